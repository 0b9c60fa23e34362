// History in the browser: a `vstack compare` kept in the server's data
// directory shows up at /runs and on its permalink page (server-rendered,
// then its charts hydrate); the Metrics tab's time range reads the stored
// samples back; the Smart vs Naive tab links to the runs.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer, runCompare } from './server';

const port = Number(process.env.VSTACK_E2E_RUNS_PORT ?? 18895);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port);

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

test('a stored compare run has a list entry and a permalink page that reads without WASM', async ({ page, request }) => {
  test.setTimeout(90_000);
  const stderr = runCompare(['--data-dir', server.dataDir]);
  const id = /run ([0-9a-f]{16}) stored/.exec(stderr)?.[1];
  expect(id, stderr).toBeTruthy();

  // Server-rendered: the page's HTML already holds the run.
  const html = await (await request.get(`${server.url}/runs/${id}`)).text();
  expect(html).toContain('data-testid="run-title"');
  expect(html).toContain('startup latency');

  await page.goto(server.url + '/compare');
  await page.getByTestId('runs-link').getByRole('link').first().click();
  await expect(page).toHaveURL(/\/runs$/);
  const row = page.getByTestId('run-row').filter({ has: page.locator(`a[href="/runs/${id}"]`) });
  await expect(row).toHaveAttribute('data-kind', 'compare');
  await row.getByRole('link').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${id}$`));
  await expect(page.getByTestId('run-title')).toContainText('compare');
  await expect(page.getByTestId('run-table').first()).toContainText('±');
  await expect(page.getByTestId('run-machine')).toContainText('CPUs');
  await expect(page.locator('#run-chart-0 canvas').first()).toBeVisible();
  // Each bar carries its value, so a measured 0 (no stalls) reads as 0 and
  // not as an empty chart.
  await expect.poll(() => page.evaluate(() => {
    const w = window as any;
    const chart = w.echarts?.getInstanceByDom(document.getElementById('run-chart-1'));
    return chart ? chart.getOption().series.map((s: any) => !!(s.label && s.label.show)) : [];
  }), { timeout: 10_000 }).toEqual([true, true]);
  await page.screenshot({ path: path.join(artifacts, 'run-page.png'), fullPage: true });

  const missing = await request.get(`${server.url}/runs/0123456789abcdef`);
  expect(missing.status()).toBe(404);
});

test('the Metrics tab reads stored history for a time range', async ({ page }) => {
  await page.goto(server.url + '/metrics');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  // A few collector ticks are stored first.
  await page.waitForTimeout(3000);
  await page.getByTestId('range-15m').click();
  await expect(page.getByTestId('range-15m')).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('history-info')).toContainText('stored samples');
  await expect(page.locator('#chart-history-buffer canvas').first()).toBeVisible();
  // test-video-001 has a ladder: the level each client played is stored too.
  await expect(page.locator('#chart-history-bitrate canvas').first()).toBeVisible();
  await page.screenshot({ path: path.join(artifacts, 'metrics-history.png'), fullPage: true });
  await page.getByTestId('range-live').click();
  await expect(page.locator('#chart-buffer canvas').first()).toBeVisible();
});

// Issue 22: a run whose every text field carries a script payload is stored,
// and no page that shows it runs any of it (escaped text, and a nonce
// Content-Security-Policy behind that); the page still hydrates under it.
test('a published run with script payloads runs nothing on /runs, its permalink or the tabs', async ({ page, request }) => {
  test.setTimeout(90_000);
  const payloads = [
    'x</title><script>window.PWNED=1</script><title>',
    '"><img src=x onerror="window.PWNED=2">',
    '</script><script>window.PWNED=3</script>',
  ];
  const id = [...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, '0')).join('');
  const run = {
    summary: {
      id, kind: 'bench', title: payloads[0], headline: payloads[1], passed: true,
      started_unix_ms: Date.now() - 1000, finished_unix_ms: Date.now(), conditions: payloads[2], source: 'cli',
    },
    machine: [[payloads[0], payloads[1]]], version: payloads[2],
    tables: [{ title: payloads[0], columns: [payloads[1]], rows: [[payloads[2]]] }],
    charts: [], notes: payloads, report: {},
  };
  const posted = await request.post(`${server.url}/api/runs`, { data: run });
  expect(posted.status(), await posted.text()).toBe(201);
  const again = await request.post(`${server.url}/api/runs`, { data: run });
  expect(again.status(), 'a stored id is never replaced').toBe(409);

  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  // Each error names the page it came from and its stack, so a failure
  // says where (a WASM trap reads only "unreachable").
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}\n${e.stack ?? ''}`));
  for (const path of [`/runs/${id}`, '/runs', '/compare', '/']) {
    const res = await page.goto(server.url + path);
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toMatch(/script-src 'self' 'nonce-[0-9a-f]{32}'/);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
    expect(await page.evaluate(() => (window as any).PWNED), path).toBeUndefined();
  }
  // The server-rendered <title> holds the title as text.
  const html = await (await request.get(`${server.url}/runs/${id}`)).text();
  expect(html).toContain('<title>vstack run: x&lt;/title&gt;&lt;script&gt;window.PWNED=1&lt;/script&gt;&lt;title&gt;</title>');
  await page.goto(`${server.url}/runs/${id}`);
  await expect(page.getByTestId('run-title')).toHaveText(payloads[0]);
  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(await page.evaluate(() => (window as any).PWNED)).toBeUndefined();
  expect(dialogs).toEqual([]);
  expect(errors).toEqual([]);
});
