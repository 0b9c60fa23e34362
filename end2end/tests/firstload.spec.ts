// The first load of `/`: every byte the browser transfers for it (HTML, JS,
// WASM, CSS; compressed as sent, headers included), summed from Chromium's
// own network events, against the issue's bar of 450 KB. ECharts is not
// part of it: the Overview draws sparklines, and ECharts loads when a tab
// with charts mounts (checked here too). Then the time to the first live
// chart on an emulated "Fast 3G" link (DevTools' preset: 562.5 ms
// latency, 1.44 Mbit/s down, 675 kbit/s up). Figures land in
// end2end/artifacts/firstload.json.
//
// It measures the release front-end (`cargo leptos build --release --split
// --precompress`, which scripts/test.sh builds): on a debug build it skips,
// unless VSTACK_REQUIRE_RELEASE_SITE is set (the test script sets it).
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer, proxy, siteRoot } from './server';

/** The bar on the first load, bytes over the wire (issue 16: 450 KB; it
 * was 1 037 654 bytes before that work). */
const FIRST_LOAD_MAX_BYTES = Number(process.env.VSTACK_FIRST_LOAD_MAX_BYTES ?? 450_000);

const port = Number(process.env.VSTACK_E2E_FIRSTLOAD_PORT ?? 18894);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port);
const releaseSite = !!siteRoot && fs.existsSync(path.join(siteRoot, 'pkg', '__wasm_split_manifest.json'));

test.beforeAll(async () => {
  // Measured on vstack itself; the proxy run (embedded site) skips it.
  if (proxy) return;
  if (!releaseSite) {
    if (process.env.VSTACK_REQUIRE_RELEASE_SITE) {
      throw new Error(`${siteRoot} holds no split release build: run cargo leptos build --release --split --precompress`);
    }
    return;
  }
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

/** Skips the calling test unless the site root holds the split release
 * build and the run is on vstack itself (the proxy run skips). */
function measuredHere() {
  test.skip(!releaseSite, 'no split release build in the site root');
  test.skip(!!proxy, 'measured on vstack itself, not through the proxy');
}

interface Transfer { url: string; bytes: number; encoding: string }

/** Loads `/` and returns every response's bytes on the wire until the
 * network has been idle for 1 s (the live WebSocket's frames excluded). */
async function firstLoad(page: Page): Promise<Transfer[]> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const seen = new Map<string, { url: string; encoding: string }>();
  const out: Transfer[] = [];
  cdp.on('Network.responseReceived', (e: any) => {
    const h = e.response.headers ?? {};
    seen.set(e.requestId, { url: e.response.url, encoding: h['content-encoding'] ?? h['Content-Encoding'] ?? '' });
  });
  cdp.on('Network.loadingFinished', (e: any) => {
    const r = seen.get(e.requestId);
    out.push({ url: r?.url ?? e.requestId, bytes: e.encodedDataLength, encoding: r?.encoding ?? '' });
  });
  await page.goto(server.url + '/', { waitUntil: 'networkidle' });
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await page.waitForTimeout(1000);
  return out;
}

test('the first load of / stays under its bar', async ({ page }) => {
  measuredHere();
  const transfers = await firstLoad(page);
  const total = transfers.reduce((s, t) => s + t.bytes, 0);
  transfers.sort((a, b) => b.bytes - a.bytes);
  const lines = transfers.map((t) => `${String(t.bytes).padStart(8)} ${t.encoding.padEnd(4)} ${new URL(t.url).pathname}`);
  console.log(`first load of /: ${total} bytes\n${lines.join('\n')}`);
  const record = { first_load_bytes: total, bar_bytes: FIRST_LOAD_MAX_BYTES, transfers };
  fs.writeFileSync(path.join(artifacts, 'firstload.json'), JSON.stringify(record, null, 2));
  // Every static asset goes compressed.
  for (const t of transfers) {
    if (/\.(wasm|js|css)$/.test(new URL(t.url).pathname)) expect(t.encoding, t.url).toMatch(/br|gzip/);
  }
  // ECharts is not part of the Overview's load...
  expect(transfers.filter((t) => t.url.includes('/vendor/echarts'))).toEqual([]);
  expect(total).toBeLessThanOrEqual(FIRST_LOAD_MAX_BYTES);
  // ...and arrives (compressed) once a tab with charts opens.
  const echarts = page.waitForResponse((r) => r.url().includes('/vendor/echarts.min.js'));
  await page.getByRole('link', { name: 'Performance Metrics', exact: true }).click();
  const res = await echarts;
  expect(res.headers()['content-encoding'] ?? '').toMatch(/br|gzip/);
  await expect(page.locator('#chart-buffer canvas').first()).toBeVisible({ timeout: 30_000 });
});

/** The bar on the Watch tab's own code (its WASM chunks), bytes on the
 * wire: 140 KB (measured 102 KB when the tab landed, 118 KB once its
 * players chose quality: the ABR rules, BOLA's among them, came into the
 * chunk; 132 KB with the hls.js peer card and its driver; hls.js itself
 * loads only when it plays; the README's first-load table). */
const WATCH_CHUNK_MAX_BYTES = Number(process.env.VSTACK_WATCH_CHUNK_MAX_BYTES ?? 140_000);

test("the Watch tab's chunk: what a click on Watch adds to the first load", async ({ page }) => {
  measuredHere();
  const transfers = await firstLoad(page);
  const before = transfers.length;
  await page.getByRole('link', { name: 'Watch', exact: true }).click();
  await expect(page.getByTestId('watch-play')).toBeVisible();
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(1000);
  const code = transfers.slice(before).filter((t) => /\.(wasm|js)$/.test(new URL(t.url).pathname));
  const bytes = code.reduce((s, t) => s + t.bytes, 0);
  console.log(`Watch chunk: ${bytes} bytes\n${code.map((t) => `${String(t.bytes).padStart(8)} ${t.encoding.padEnd(4)} ${new URL(t.url).pathname}`).join('\n')}`);
  record({ watch_chunk_bytes: bytes });
  expect(code.length, 'the Watch tab loads code of its own').toBeGreaterThan(0);
  for (const t of code) expect(t.encoding, t.url).toMatch(/br|gzip/);
  expect(bytes).toBeLessThanOrEqual(WATCH_CHUNK_MAX_BYTES);
});

/** DevTools' "Fast 3G" preset on `page`, cache off. */
async function fast3g(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 150 * 3.75,
    downloadThroughput: ((1.6 * 1000 * 1000) / 8) * 0.9,
    uploadThroughput: ((750 * 1000) / 8) * 0.9,
  });
}

/** Adds `figures` to end2end/artifacts/firstload.json. */
function record(figures: Record<string, number>) {
  const file = path.join(artifacts, 'firstload.json');
  const prev = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  fs.writeFileSync(file, JSON.stringify({ ...prev, ...figures }, null, 2));
}

test('time to the first live chart on Fast 3G', async ({ page }) => {
  measuredHere();
  test.setTimeout(120_000);
  await fast3g(page);
  await page.goto(server.url + '/', { timeout: 90_000 });
  // The Overview's server sparkline draws once the WASM has hydrated and
  // the first heartbeat arrived over /ws (one point is drawn as a short
  // line, so the polyline has two).
  await page.waitForFunction(() => {
    const p = document.querySelector('[data-testid=spark-rss] polyline')?.getAttribute('points') ?? '';
    return p.split(' ').length > 1;
  }, null, { timeout: 90_000 });
  const ms = await page.evaluate(() => performance.now());
  console.log(`time to the first live chart on Fast 3G: ${(ms / 1000).toFixed(1)} s`);
  record({ fast_3g_first_chart_ms: ms });
  expect(ms).toBeLessThan(60_000);
});

test('time to the first ECharts chart on Fast 3G, landing on /metrics', async ({ page }) => {
  measuredHere();
  test.setTimeout(120_000);
  // Main WASM, the tab's chunk, ECharts (loaded on demand) and the first
  // metrics frame, all over the throttled link.
  await fast3g(page);
  await page.goto(server.url + '/metrics', { timeout: 90_000 });
  await page.locator('#chart-buffer canvas').first().waitFor({ timeout: 90_000 });
  const ms = await page.evaluate(() => performance.now());
  console.log(`time to the first ECharts chart on Fast 3G (/metrics): ${(ms / 1000).toFixed(1)} s`);
  record({ fast_3g_metrics_first_chart_ms: ms });
  expect(ms).toBeLessThan(60_000);
});
