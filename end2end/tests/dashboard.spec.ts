// The dashboard shell in a real browser against the real server.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer, compareResults, runCompare } from './server';

const port = Number(process.env.VSTACK_E2E_PORT ?? 18888);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port);

const tabs = [
  { path: '/', label: 'Overview', shot: 'overview' },
  { path: '/metrics', label: 'Performance Metrics', shot: 'metrics' },
  { path: '/compare', label: 'Smart vs Naive', shot: 'compare' },
  { path: '/analytics', label: 'Analytics', shot: 'analytics' },
  { path: '/redundancy', label: 'Redundancy', shot: 'redundancy-tab' },
  { path: '/watch', label: 'Watch', shot: 'watch-idle' },
];

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

async function expectLive(page: Page) {
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
}

/** The Overview's server-health sparklines are drawn from live data: a
 * polyline of at least two points and a latest value with its unit. */
async function expectSparkline(page: Page) {
  const rss = page.getByTestId('spark-rss');
  await expect.poll(async () => ((await rss.locator('polyline').getAttribute('points')) ?? '').split(' ').length,
    { timeout: 10_000 }).toBeGreaterThan(1);
  await expect(page.getByTestId('spark-rss-latest')).toHaveText(/^\d+\.\d MiB$/);
  await expect(page.getByTestId('spark-lag-latest')).toHaveText(/^\d+\.\d\d ms$/);
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

  // The server's health is drawn as live sparklines (no chart library on
  // the Overview: ECharts must not have been fetched).
  await expectSparkline(page);
  expect(await page.evaluate(() => 'echarts' in window)).toBe(false);
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
      await expectSparkline(page);
      await expect.poll(() => framesReceived(page)).toBeGreaterThan(2);
    }
    await page.waitForTimeout(1500);
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

async function downloads(page: Page, kind: string): Promise<number> {
  return Number(await page.getByTestId(`downloads-${kind}`).innerText());
}

test('each tab shows live, changing data from the real engine', async ({ page }) => {
  await page.goto(server.url + '/');
  await expectLive(page);
  // Both clients play: downloads grow, buffers and chunk grids fill.
  for (const kind of ['smart', 'naive']) {
    await expect(page.getByTestId(`state-${kind}`)).toHaveText(/startup|playing|rebuffering|ended/);
    const first = await downloads(page, kind);
    // The count grows, or restarts with the next session (a 12-chunk session
    // can end right after `first` was read; the new one counts from 0).
    await expect.poll(() => downloads(page, kind), { timeout: 20_000 }).not.toBe(first);
    await expect(page.getByTestId(`buffer-${kind}`)).toContainText('s / 30 s target');
    await expect(page.getByTestId(`chunk-grid-${kind}`).locator('.chunk').first()).toBeVisible();
  }
  // Metrics: the charts draw and keep changing.
  await page.getByRole('link', { name: 'Performance Metrics', exact: true }).click();
  for (const id of ['chart-buffer', 'chart-scores', 'chart-throughput', 'chart-load']) {
    await expect(page.locator(`#${id} canvas`).first()).toBeVisible();
  }
  // Compare: the conditions and a live table from both clients.
  await page.getByRole('link', { name: 'Smart vs Naive', exact: true }).click();
  await expect(page.getByTestId('cmp-conditions')).toContainText('twin embedded clusters');
  await expect(page.getByTestId('cmp-live')).toContainText('session goodput (bytes ÷ session time)');
  await expect(page.getByTestId('cmp-live')).toContainText('busy-time rate (bytes ÷ time downloading)');
  await expect(page.getByTestId('cmp-live-sessions')).toContainText(/smart session \d+ at \d+ s, naive session \d+ at \d+ s/);
  await expect(page.getByTestId('cmp-sessions')).toContainText(/\d+ pairs since the last re-run/);
  // Analytics: targets judged on measured values; data transferred grows.
  await page.getByRole('link', { name: 'Analytics', exact: true }).click();
  await expect(page.getByTestId('targets')).toContainText('startup latency');
  await expect(page.getByTestId('score')).toContainText('% of targets met');
  const before = await page.getByTestId('health-bytes').innerText();
  await expect(page.getByTestId('health-bytes')).not.toHaveText(before, { timeout: 20_000 });
  const csv = await page.request.get(server.url + '/api/metrics?format=csv');
  expect(csv.status()).toBe(200);
  expect(await csv.text()).toContain('uptime_ms,client,state,buffer_level_s');
});

test('a re-run applies its scenario first and refreshes every open dashboard', async ({ browser }) => {
  const a = await browser.newPage();
  const b = await browser.newPage();
  for (const p of [a, b]) {
    await p.goto(server.url + '/compare');
    await expectLive(p);
  }
  // The naive client's node cards show only what round robin measures.
  await b.goto(server.url + '/');
  await expectLive(b);
  await expect(b.getByTestId('node-naive-node-1')).toContainText('download rate');
  await expect(b.getByTestId('node-naive-node-1')).not.toContainText('score');
  await expect(b.getByTestId('node-smart-node-1')).toContainText('score');
  await b.goto(server.url + '/compare');
  await expectLive(b);
  await a.getByTestId('cmp-scenario').selectOption('high_latency');
  await a.getByTestId('cmp-rerun').click();
  await expect(a.getByText('comparison restarted under scenario high_latency')).toBeVisible();
  // The other browser sees the new scenario and the cleared sessions.
  await expect(b.getByTestId('cmp-conditions')).toContainText('scenario high_latency');
  await expect(b.getByTestId('cmp-sessions')).toContainText(/^0 pairs since the last re-run/);
  await b.screenshot({ path: path.join(artifacts, 'compare-after-rerun.png'), fullPage: true });
  await a.getByTestId('cmp-scenario').selectOption('normal');
  await a.getByTestId('cmp-rerun').click();
  await expect(b.getByTestId('cmp-conditions')).toContainText('scenario normal');
  await a.close();
  await b.close();
});

test('killing a node from the controls marks it down and moves chunks to other nodes', async ({ page }) => {
  await page.goto(server.url + '/');
  await expectLive(page);
  await expect.poll(() => downloads(page, 'smart'), { timeout: 20_000 }).toBeGreaterThan(0);
  await page.getByTestId('kill-node-0').click();
  await expect(page.getByTestId('ctl-status')).toContainText('node-1 killed');
  const card = page.getByTestId('node-smart-node-1');
  await expect(card).toHaveAttribute('data-health', 'down', { timeout: 15_000 });
  // New chunks come from the other nodes: once the downloads in flight at
  // the kill are done (up to 4 in parallel), node-1's chunk count stands
  // still while the client downloads more. (A new session resets both.)
  const grown = async (n: number) => {
    const start = await downloads(page, 'smart');
    await expect.poll(async () => {
      const d = await downloads(page, 'smart');
      return d >= start + n || d < start;
    }, { timeout: 30_000 }).toBe(true);
  };
  const node1Chunks = async () => Number((/(\d+) chunks/.exec(await card.innerText()) ?? ['', 'NaN'])[1]);
  await grown(4);
  const before = await node1Chunks();
  await grown(4);
  expect(await node1Chunks()).toBeLessThanOrEqual(before);
  await page.screenshot({ path: path.join(artifacts, 'overview-node-killed.png'), fullPage: true });
  await page.getByTestId('revive-node-0').click();
  await expect(page.getByTestId('ctl-status')).toContainText('node-1 revived');
});

test('a killed node opens an alert: the badge counts it, the feed lists it, the Metrics chart shades it; reviving resolves it', async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto(server.url + '/');
  await expectLive(page);
  await expect.poll(() => downloads(page, 'smart'), { timeout: 20_000 }).toBeGreaterThan(0);
  const badge = page.getByTestId('alert-badge');
  const openOnNode3 = () => page.evaluate(async () => {
    const r = await fetch('/api/anomalies');
    const body = await r.json();
    return body.alerts.filter((a: any) => a.node === 'node-3' && a.ended_uptime_ms === null).length;
  });
  await page.getByTestId('kill-node-2').click();
  await expect(page.getByTestId('ctl-status')).toContainText('node-3 killed');
  await expect.poll(openOnNode3, { timeout: 20_000 }).toBeGreaterThan(0);
  await expect.poll(async () => Number(await badge.getAttribute('data-open')), { timeout: 5_000 }).toBeGreaterThan(0);
  await expect(badge).toHaveAttribute('data-level', 'critical');
  await page.getByRole('link', { name: 'Performance Metrics', exact: true }).click();
  await badge.click();
  const feed = page.getByTestId('alert-feed');
  await expect(feed).toBeVisible();
  await expect(feed.locator('[data-testid=alert-row][data-state=open]').filter({ hasText: 'node-3 is down' }).first()).toBeVisible();
  // The smart client's node alerts are shaded on the node score chart: an
  // area that reaches the chart's newest sample (the node-3 alert is open;
  // overlapping alerts share one area, labelled with the first two).
  // ECharts loads on demand when a chart route opens, so wait for its canvas
  // (a slow pass, e.g. behind the proxy, may still be fetching the script).
  await expect(page.locator('#chart-scores canvas').first()).toBeVisible({ timeout: 30_000 });
  await expect.poll(() => page.evaluate(() => {
    const w = window as any;
    if (!w.echarts) return 'echarts not loaded';
    const chart = w.echarts.getInstanceByDom(document.getElementById('chart-scores'));
    if (!chart) return 'no chart';
    const series = chart.getOption().series;
    const areas = series.flatMap((s: any) => (s.markArea && s.markArea.data) || []);
    const newest = Math.max(...series.flatMap((s: any) => (s.data || []).map((p: any) => p[0])));
    const open = areas.filter((d: any) => Number(d[1].xAxis) >= newest - 2);
    return open.length > 0 ? 'open area' : `areas ${areas.length}, newest ${newest}`;
  }), { timeout: 10_000 }).toBe('open area');
  await page.screenshot({ path: path.join(artifacts, 'alerts-node-killed.png') });
  await badge.click();
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  await page.getByTestId('revive-node-2').click();
  await expect(page.getByTestId('ctl-status')).toContainText('node-3 revived');
  await expect.poll(openOnNode3, { timeout: 45_000 }).toBe(0);
  const resolved = await page.evaluate(async () => {
    const body = await (await fetch('/api/anomalies')).json();
    return body.alerts.filter((a: any) => a.node === 'node-3' && a.resolution).map((a: any) => a.resolution);
  });
  expect(resolved.length).toBeGreaterThan(0);
});

test('every tab in dark mode', async ({ browser }) => {
  const page = await browser.newPage({ colorScheme: 'dark' });
  for (const tab of tabs) {
    await page.goto(server.url + tab.path);
    await expectLive(page);
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(artifacts, `${tab.shot}-dark.png`), fullPage: true });
  }
  // The toggle switches to light and back.
  await page.getByTestId('theme-toggle').click();
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
  await page.close();
});

test('delay from a server event to the chart change in the browser', async ({ page }) => {
  // Record, with a listener added before the app's own, each heartbeat's
  // server wall clock (same host, same clock) and the arrival time of each
  // metrics_update frame. Then time (1) the Overview's RSS sparkline
  // redrawing after a heartbeat, (2) ECharts' 'finished' event on the
  // Performance Metrics tab's node score chart after a metrics update.
  await page.addInitScript(() => {
    const w = window as any;
    w.__lastServerTime = 0;
    w.__lastMetricsAt = 0;
    const Orig = w.WebSocket;
    w.WebSocket = function (url: string, protocols?: any) {
      const ws = protocols === undefined ? new Orig(url) : new Orig(url, protocols);
      ws.addEventListener('message', (ev: MessageEvent) => {
        if (typeof ev.data !== 'string') return;
        if (ev.data.startsWith('{"type":"heartbeat"')) {
          w.__lastServerTime = JSON.parse(ev.data).server_time_unix_ms;
        } else if (ev.data.startsWith('{"type":"metrics_update"')) {
          w.__lastMetricsAt = Date.now();
        }
      });
      return ws;
    } as any;
    w.WebSocket.prototype = Orig.prototype;
    Object.assign(w.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  });
  await page.goto(server.url + '/');
  await expectLive(page);
  await expectSparkline(page);
  const spark: number[] = await page.evaluate(async () => {
    const w = window as any;
    const line = document.querySelector('[data-testid=spark-rss] polyline')!;
    const out: number[] = [];
    new MutationObserver(() => {
      if (w.__lastServerTime) {
        out.push(Date.now() - w.__lastServerTime);
        w.__lastServerTime = 0;
      }
    }).observe(line, { attributes: true, attributeFilter: ['points'] });
    await new Promise((r) => setTimeout(r, 8000));
    return out;
  });
  await page.getByRole('link', { name: 'Performance Metrics', exact: true }).click();
  await expect(page.locator('#chart-scores canvas').first()).toBeVisible({ timeout: 30_000 });
  const echarts: number[] = await page.evaluate(async () => {
    const w = window as any;
    const chart = w.echarts.getInstanceByDom(document.getElementById('chart-scores'));
    const out: number[] = [];
    w.__lastMetricsAt = 0;
    chart.on('finished', () => {
      if (w.__lastMetricsAt) {
        out.push(Date.now() - w.__lastMetricsAt);
        w.__lastMetricsAt = 0;
      }
    });
    await new Promise((r) => setTimeout(r, 10000));
    return out;
  });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const record = {
    heartbeat_to_sparkline_ms: spark, sparkline_median_ms: median(spark),
    metrics_update_to_echarts_ms: echarts, echarts_median_ms: median(echarts),
  };
  fs.writeFileSync(path.join(artifacts, 'event-to-chart-ms.json'), JSON.stringify(record, null, 1));
  console.log(`server heartbeat -> sparkline drawn: median ${record.sparkline_median_ms} ms over ${spark.length} frames (max ${Math.max(...spark)} ms)`);
  console.log(`metrics_update arrived -> ECharts drawn: median ${record.echarts_median_ms} ms over ${echarts.length} frames (max ${Math.max(...echarts)} ms)`);
  expect(spark.length).toBeGreaterThan(3);
  expect(record.sparkline_median_ms).toBeLessThan(1000);
  expect(echarts.length).toBeGreaterThan(1);
  expect(record.echarts_median_ms).toBeLessThan(1000);
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

test('the demo runs from the dashboard: phases narrated, figures measured, findings at the end', async ({ page }) => {
  await page.goto(server.url + '/');
  await expectLive(page);
  await page.getByTestId('demo-phase-s').fill('10');
  await page.getByTestId('demo-phase-s').dispatchEvent('change');
  await page.getByTestId('demo-start').click();
  await expect(page.getByTestId('demo-msg')).toContainText('demo started: 8 phases of 10 s');
  await expect(page.getByTestId('demo-state')).toHaveAttribute('data-running', 'true');
  await expect(page.getByTestId('demo-narration')).toContainText(/Normal operation|Degradation|Node failure|Recovery|Chaos|Adaptive redundancy/);
  await page.getByTestId('demo-phases').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifacts, 'overview-demo-running.png'), fullPage: true });
  // 8 phases of 10 media s at ×4: about 20 s.
  await expect(page.getByTestId('demo-state')).toHaveAttribute('data-running', 'false', { timeout: 45_000 });
  await expect(page.getByTestId('demo-state')).toContainText('Finished');
  await expect(page.getByTestId('demo-findings')).toContainText('rebuffering: smart');
  await expect(page.getByTestId('demo-measured').locator('li')).toHaveCount(8);
  await expect(page.getByTestId('demo-measured')).toContainText('smart fetched');
  await expect(page.getByTestId('demo-events')).toContainText('node-');
  const rows = page.locator('[data-testid="demo-phases"] tbody tr');
  await expect(rows).toHaveCount(8);
  // Every phase has measured figures; the clients downloaded during the demo.
  const chunks = await rows.evaluateAll((trs) => trs.map((tr) => Number(tr.children[1].textContent)));
  expect(chunks.every((n) => Number.isFinite(n))).toBe(true);
  expect(chunks.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  // The chaos phase's killed nodes are back once the next metrics frame lands.
  await expect(page.locator('.node .badge', { hasText: 'killed' })).toHaveCount(0);
  await page.getByTestId('demo-findings').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifacts, 'overview-demo-finished.png'), fullPage: true });
});

test('the Smart vs Naive tab shows the latest saved vstack compare run', async ({ page }) => {
  fs.rmSync(compareResults, { force: true });
  await page.goto(server.url + '/compare');
  await expect(page.getByTestId('cmp-saved-none')).toBeVisible();
  runCompare();
  await page.getByTestId('cmp-saved-refresh').click();
  await expect(page.getByTestId('cmp-saved-meta')).toContainText('live twin clusters at ×20');
  // Its age, by the server's clock, once the stream's heartbeat is in.
  await expect(page.getByTestId('cmp-saved-meta')).toContainText(/Finished \d+ s ago/);
  const rows = page.locator('[data-testid="cmp-saved-table"] tbody tr');
  await expect(rows).toHaveCount(7);
  await expect(rows.first()).toContainText('startup latency');
  const saved = JSON.parse(fs.readFileSync(compareResults, 'utf8'));
  const startup = saved.conditions[0].metrics[0].smart_mean as number;
  await expect(rows.first()).toContainText(startup.toFixed(1));
  await page.getByTestId('cmp-saved-table').scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifacts, 'compare-saved.png'), fullPage: true });
});

test('the Consensus tab replays each ChunkPaxos scenario step by step', async ({ page }) => {
  await page.goto(server.url + '/consensus');
  // Normal operation: the fast round, 6 messages, uploader-a's record.
  await expect(page.getByTestId('cons-description')).toContainText('fast round');
  await expect(page.getByTestId('cons-position')).toContainText('step 1 of 7');
  for (let i = 0; i < 6; i++) await page.getByTestId('cons-step').click();
  await expect(page.getByTestId('cons-position')).toContainText('step 7 of 7');
  await expect(page.getByTestId('cons-narration')).toContainText('learns that uploader-a');
  await expect(page.getByTestId('cons-messages-so-far')).toHaveText('6');
  await expect(page.getByTestId('cons-chosen')).toContainText('uploader-a');
  await expect(page.locator('[data-testid="cons-acceptors"] tbody tr')).toHaveCount(3);
  await expect(page.locator('[data-testid="cons-acceptors"] tbody tr').first()).toContainText('fast');
  // All three nodes voted for the chosen record.
  await expect(page.locator('[data-testid="cons-acceptors"] td.ok')).toHaveCount(3);
  await page.screenshot({ path: path.join(artifacts, 'consensus-normal.png'), fullPage: true });

  // Concurrent uploaders: play at 4x to the end; both learn one record.
  await page.getByTestId('cons-scenario-conflict').click();
  await expect(page.getByTestId('cons-description')).toContainText('Two uploaders');
  await page.getByTestId('cons-speed').selectOption('4');
  await page.getByTestId('cons-play').click();
  await page.getByTestId('cons-step').click(); // pauses
  await page.getByTestId('cons-last').click();
  const chosen = (await page.getByTestId('cons-chosen').innerText()).trim();
  expect(chosen).toMatch(/^uploader-[ab]/);
  const learned = await page.locator('[data-testid="cons-proposers"] tbody tr td:nth-child(4)').allInnerTexts();
  expect(learned).toEqual([chosen, chosen]);
  const total = Number(await page.getByTestId('cons-messages-total').innerText());
  expect(total).toBeGreaterThan(12);
  await page.screenshot({ path: path.join(artifacts, 'consensus-conflict.png'), fullPage: true });

  // Node failure: node-3 is down, messages to it are lost, a majority commits.
  await page.getByTestId('cons-scenario-node_failure').click();
  await expect(page.getByTestId('cons-description')).toContainText('node-3 is down');
  await page.getByTestId('cons-last').click();
  await expect(page.getByTestId('cons-chosen')).toContainText('uploader-a');
  await expect(page.locator('[data-testid="cons-messages"] tbody')).toContainText('(lost)');
  await expect(page.locator('[data-testid="cons-acceptors"] tbody tr[data-node="node-3"]')).toContainText('down');
  // Scrub back to the start with the timeline.
  await page.getByTestId('cons-timeline').fill('0');
  await expect(page.getByTestId('cons-position')).toContainText('step 1 of');
  await page.screenshot({ path: path.join(artifacts, 'consensus-node-failure.png'), fullPage: true });
});
