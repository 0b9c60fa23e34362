// The dashboard shell in a real browser against the real server.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';

const port = Number(process.env.VSTACK_E2E_PORT ?? 18888);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port);

const tabs = [
  { path: '/', label: 'Overview', shot: 'overview' },
  { path: '/metrics', label: 'Performance Metrics', shot: 'metrics' },
  { path: '/compare', label: 'Smart vs Naive', shot: 'compare' },
  { path: '/analytics', label: 'Analytics', shot: 'analytics' },
];

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stop());

async function expectLive(page: Page) {
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
}

async function framesReceived(page: Page): Promise<number> {
  return Number(await page.getByTestId('live-frames').innerText());
}

test('page hydrates, calls the server function and shows live heartbeats', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const serverFn = page.waitForResponse((r) => r.url().endsWith('/api/fn/server_info'));
  await page.goto(server.url + '/');
  // The server function is called by the browser (client-side resource).
  const resp = await serverFn;
  expect(resp.status()).toBe(200);
  const info = await resp.json();
  expect(info.ws_push_interval_ms).toBe(1000);
  await expect(page.getByTestId('server-version')).toHaveText(info.version);
  await expect(page.getByTestId('server-pid')).toHaveText(String(info.pid));

  // Hydrated and connected: frames arrive and the live values change.
  await expectLive(page);
  const firstFrames = await framesReceived(page);
  const firstUptime = await page.getByTestId('live-uptime').innerText();
  await expect.poll(() => framesReceived(page), { timeout: 5_000 }).toBeGreaterThan(firstFrames + 1);
  await expect(page.getByTestId('live-uptime')).not.toHaveText(firstUptime);
  await expect(page.getByTestId('live-dashboards')).toHaveText(/^[1-9]\d*$/);
  await expect(page.getByTestId('live-rss')).toHaveText(/MiB|KiB/);

  // The charming/ECharts chart rendered a canvas.
  await expect(page.locator('#chart-server canvas').first()).toBeVisible();
  expect(errors).toEqual([]);
});

test('every tab is reachable by click and by URL, and is highlighted', async ({ page }) => {
  await page.goto(server.url + '/');
  await expectLive(page);
  for (const tab of tabs) {
    await page.getByRole('link', { name: tab.label, exact: true }).click();
    await expect(page).toHaveURL(server.url + tab.path);
    await expect(page.getByRole('link', { name: tab.label, exact: true })).toHaveAttribute('aria-current', 'page');
    // Client-side navigation keeps the same socket alive.
    await expectLive(page);
  }
  for (const tab of tabs) {
    await page.goto(server.url + tab.path);
    await expect(page.getByRole('link', { name: tab.label, exact: true })).toHaveAttribute('aria-current', 'page');
    await expectLive(page);
    if (tab.path === '/') {
      await expect(page.locator('#chart-server canvas').first()).toBeVisible();
      await expect.poll(() => framesReceived(page)).toBeGreaterThan(2);
    }
    await page.screenshot({ path: path.join(artifacts, `${tab.shot}.png`), fullPage: true });
  }
  const missing = await page.goto(server.url + '/no-such-tab');
  expect(missing?.status()).toBe(404);
});

test('the connection indicator goes to reconnecting when the server dies and back to live', async ({ page }) => {
  await page.goto(server.url + '/');
  await expectLive(page);
  await server.stop();
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
  await page.screenshot({ path: path.join(artifacts, 'reconnecting.png') });
  await server.start();
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
  // Data flows again on the new connection.
  const after = await framesReceived(page);
  await expect.poll(() => framesReceived(page), { timeout: 5_000 }).toBeGreaterThan(after);
});

test('layout holds on a phone-sized screen', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(server.url + '/');
  await expectLive(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: path.join(artifacts, 'overview-phone.png'), fullPage: true });
  await page.close();
});
