// Public mode in a real browser: a viewer watches live with read-only
// controls, the admin signs in once, and a page of another origin cannot
// open the live WebSocket.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';

const port = Number(process.env.VSTACK_E2E_PUBLIC_PORT ?? 18890);
const token = 'e2e-admin-token-0123456789';
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port, ['--public', '--admin-token', token]);
// A viewer: no admin header, whatever the pass (playwright.config.ts).
test.use({ extraHTTPHeaders: {} });

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

test('a viewer sees live data and read-only controls', async ({ page }) => {
  await page.goto(server.url + '/');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await expect(page.getByTestId('access')).toHaveAttribute('data-role', 'viewer');
  await expect(page.getByTestId('readonly-note').first()).toBeVisible();
  await expect(page.getByTestId('ctl-play')).toBeDisabled();
  await expect(page.getByTestId('kill-node-0')).toBeDisabled();
  // Live figures still move for a viewer.
  const frames = Number(await page.getByTestId('live-frames').innerText());
  await expect.poll(async () => Number(await page.getByTestId('live-frames').innerText()), { timeout: 5_000 })
    .toBeGreaterThan(frames);
  // Even a hand-made call from the page is refused.
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/fn/control', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ control: { action: 'stop' } }),
    });
    return { status: r.status, body: await r.json() };
  });
  expect(status.status).toBe(401);
  expect(status.body.error).toContain('sign in');
  await page.screenshot({ path: path.join(artifacts, 'public-viewer.png'), fullPage: true });
});

test('signing in enables the controls, signing out ends it', async ({ page }) => {
  await page.goto(server.url + '/');
  await page.getByTestId('sign-in-link').click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.getByTestId('signin-token').fill('not-the-token');
  await page.getByTestId('signin-submit').click();
  await expect(page.getByTestId('signin-failed')).toBeVisible();
  await page.screenshot({ path: path.join(artifacts, 'public-signin.png'), fullPage: true });
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
  await expect(page).toHaveURL(server.url + '/');
  await expect(page.getByTestId('access')).toHaveAttribute('data-role', 'admin');
  await expect(page.getByTestId('readonly-note')).toHaveCount(0);
  await expect(page.getByTestId('ctl-stop')).toBeEnabled();
  // Hydrated (the live feed is up) before clicking.
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await page.getByTestId('ctl-stop').click();
  await expect(page.getByTestId('ctl-status')).toHaveText('stopped');
  await page.getByTestId('ctl-play').click();
  await expect(page.getByTestId('ctl-status')).not.toHaveText('stopped');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'vstack_session');
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe('Strict');
  expect(session?.secure).toBe(server.url.startsWith('https'));
  await page.screenshot({ path: path.join(artifacts, 'public-admin.png'), fullPage: true });
  await page.getByTestId('sign-out').click();
  await expect(page.getByTestId('access')).toHaveAttribute('data-role', 'viewer');
  await expect(page.getByTestId('ctl-play')).toBeDisabled();
});

test('a WebSocket from a foreign origin is refused', async ({ page }) => {
  const wsUrl = server.url.replace(/^http/, 'ws') + '/ws';
  const open = (p: typeof page) =>
    p.evaluate((url) => new Promise<string>((resolve) => {
      const ws = new WebSocket(url);
      ws.onopen = () => { resolve('open'); ws.close(); };
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 5_000);
    }), wsUrl);
  // From the dashboard's own page: opens.
  await page.goto(server.url + '/healthz');
  expect(await open(page)).toBe('open');
  // From another origin (an opaque data: page): refused with 403.
  await page.goto('data:text/html,<p>another site</p>');
  expect(await open(page)).toBe('refused');
  // The server says why.
  const r = await fetch(server.url + '/ws', { headers: { origin: 'https://evil.example' } });
  expect(r.status).toBe(403);
  expect((await r.json()).error).toContain('cross-origin');
});
