// The Watch tab in real Chromium: both engines feed real <video> elements
// through Media Source Extensions, and every figure checked here is the
// element's own (currentTime, getVideoPlaybackQuality(), its waiting and
// playing events), never the engine's model. Screenshots (light, dark,
// phone) and the page's CPU while both play land in end2end/artifacts/.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';
import { type Kind, elementStalls, recordEvents } from './watch-events';

const port = Number(process.env.VSTACK_E2E_WATCH_PORT ?? 18896);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
/** Four places, so the last test can fill them. A viewer keeps its place
 * for 30 s after its last request, and the first four tests start a
 * viewer each within that time (with three places the fourth was turned
 * away and its player never started). */
const MAX_WATCHERS = 4;
const server = new VstackServer(port, ['--max-watchers', String(MAX_WATCHERS)]);

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

/** Starts recording the elements' events (page time, ms) and presses Play
 * both; returns the page time of the press. */
async function playBoth(page: Page): Promise<number> {
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await recordEvents(page);
  const pressed = await page.evaluate(() => performance.now());
  await page.getByTestId('watch-play').click();
  return pressed;
}

interface Element { t: number; frames: number; dropped: number }

async function element(page: Page, kind: Kind): Promise<Element> {
  return page.evaluate((k) => {
    const v = document.querySelector(`[data-testid=watch-video-${k}]`) as HTMLVideoElement;
    const q = v.getVideoPlaybackQuality();
    return { t: v.currentTime, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames };
  }, kind);
}

async function control(page: Page, body: object) {
  // page.request carries the browser's headers (the admin token in the
  // proxy pass); locally the loopback caller is the machine's user.
  const r = await page.request.post(server.url + '/api/fn/control', { data: { control: body } });
  expect(r.status(), await r.text()).toBe(200);
}

test('both players play the real video: the elements advance and decode frames', async ({ page }) => {
  test.setTimeout(90_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const pressed = await playBoth(page);
  await expect(page.getByTestId('watch-status')).toContainText('Playing test-video-001');
  for (const kind of ['smart', 'naive'] as Kind[]) {
    await expect.poll(async () => (await element(page, kind)).t, { timeout: 30_000 }).toBeGreaterThan(4);
  }
  // Chromium's CPU time on the page's main thread over 5 s of both playing
  // (Performance.getMetrics: TaskDuration and ScriptDuration are seconds).
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metric = async () => {
    const m = (await cdp.send('Performance.getMetrics')).metrics as { name: string; value: number }[];
    const get = (n: string) => m.find((x) => x.name === n)?.value ?? 0;
    return { task: get('TaskDuration'), script: get('ScriptDuration'), wall: get('Timestamp') };
  };
  const before = await metric();
  const a = { smart: await element(page, 'smart'), naive: await element(page, 'naive') };
  await page.waitForTimeout(5_000);
  const after = await metric();
  const b = { smart: await element(page, 'smart'), naive: await element(page, 'naive') };
  const wall = after.wall - before.wall;
  const cpu = {
    main_thread_busy_pct: ((after.task - before.task) / wall) * 100,
    script_pct: ((after.script - before.script) / wall) * 100,
    window_s: wall,
  };
  console.log(`page CPU while both play: main thread busy ${cpu.main_thread_busy_pct.toFixed(1)} %, script ${cpu.script_pct.toFixed(1)} % over ${wall.toFixed(1)} s`);
  for (const kind of ['smart', 'naive'] as Kind[]) {
    // Real playback: time moves at about real speed and frames decode.
    expect(b[kind].t - a[kind].t, kind).toBeGreaterThan(3.5);
    expect(b[kind].frames - a[kind].frames, kind).toBeGreaterThan(75);
  }
  const figures: Record<string, unknown> = { cpu };
  for (const kind of ['smart', 'naive'] as Kind[]) {
    const s = await elementStalls(page, kind, pressed);
    figures[kind] = { ...s, element: b[kind] };
    expect(s.startup_ms, `${kind} reached its first frame`).not.toBeNull();
    // The page's startup figure is the element's: press → first `playing`.
    const shown = Number((await page.getByTestId(`startup-${kind}`).innerText()).replace(/[^\d]/g, ''));
    expect(Math.abs(shown - (s.startup_ms ?? 0)), `${kind} startup shown ${shown} ms`).toBeLessThan(300);
    await expect(page.getByTestId(`state-${kind}`)).toHaveText(/playing|rebuffering/);
    // Chunks came from the nodes and the strip shows them.
    await expect(page.getByTestId(`chunk-grid-${kind}`).locator('.chunk').first()).toBeVisible();
  }
  fs.writeFileSync(path.join(artifacts, 'watch.json'), JSON.stringify(figures, null, 1));
  await page.screenshot({ path: path.join(artifacts, 'watch.png'), fullPage: true });
  await page.getByTestId('theme-toggle').click();
  await page.screenshot({ path: path.join(artifacts, 'watch-dark.png'), fullPage: true });
  await page.getByTestId('theme-toggle').click();
  expect(errors).toEqual([]);
});

test('"Smart only" plays the smart player alone: the naive element never loads', async ({ page }) => {
  test.setTimeout(60_000);
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await page.getByTestId('watch-play-smart').click();
  await expect(page.getByTestId('watch-status')).toContainText('the smart client alone');
  await expect.poll(async () => (await element(page, 'smart')).t, { timeout: 30_000 }).toBeGreaterThan(2);
  // The naive element has no source and no frame, and the page asked
  // nothing of the naive engine's links.
  const naive = await page.evaluate(() => {
    const v = document.querySelector('[data-testid=watch-video-naive]') as HTMLVideoElement;
    return { src: v.currentSrc, frames: v.getVideoPlaybackQuality().totalVideoFrames };
  });
  expect(naive).toEqual({ src: '', frames: 0 });
  const naiveRequests = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/watch/naive/')).length);
  expect(naiveRequests).toBe(0);
  await page.getByTestId('watch-stop').click();
});

test('the naive player climbs the ladder: the element decodes across a rendition switch', async ({ page }) => {
  // test-video-001 has three rungs (1000, 2500, 5000 kbit/s), each with its
  // own initialization segment. The naive player (BOLA-E) starts at the
  // bottom (level 1) and climbs as its buffer grows; the page appends the
  // new level's init segment before its first chunk. (The smart player
  // waits for its probes and scores its first segment on them: on the
  // default profile it starts at the top and has no switch to cross.) The
  // level shown is the one at the element's own playhead, so by the time
  // the tab is read the switch may be behind it: any level above 1 means
  // the element crossed one.
  test.setTimeout(120_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await playBoth(page);
  await expect(page.getByTestId('quality-naive')).toContainText(/level \d\/3/, { timeout: 30_000 });
  const level = async (kind: Kind) =>
    Number(((await page.getByTestId(`quality-${kind}`).innerText()).match(/level (\d)\/3/) ?? [])[1] ?? 0);
  const first = await level('naive');
  await expect.poll(async () => level('naive'), { timeout: 80_000, intervals: [1_000] }).toBeGreaterThan(1);
  const a = await element(page, 'naive');
  await page.waitForTimeout(3_000);
  const b = await element(page, 'naive');
  expect(b.t - a.t, 'plays on after the switch').toBeGreaterThan(2);
  expect(b.frames - a.frames, 'decodes the new rendition').toBeGreaterThan(50);
  const mediaError = await page.evaluate(() =>
    (document.querySelector('[data-testid=watch-video-naive]') as HTMLVideoElement).error?.message ?? null);
  expect(mediaError).toBeNull();
  console.log(`naive player: level ${first} -> ${await level('naive')} of 3; ${await page.getByTestId('quality-naive').innerText()}`);
  console.log(`smart player: ${await page.getByTestId('quality-smart').innerText()}`);
  expect(errors).toEqual([]);
});

test('a node killed while both play: the smart player plays on from the others', async ({ page }) => {
  test.setTimeout(90_000);
  const pressed = await playBoth(page);
  await expect.poll(async () => (await element(page, 'smart')).t, { timeout: 30_000 }).toBeGreaterThan(3);
  await control(page, { action: 'kill_node', node: 0 });
  try {
    const at = await element(page, 'smart');
    await page.waitForTimeout(15_000);
    const later = await element(page, 'smart');
    // It moved on: failed over to node-2 and node-3 without a stall.
    expect(later.t - at.t).toBeGreaterThan(13);
    const s = await elementStalls(page, 'smart', pressed);
    expect(s.stalls, JSON.stringify(s)).toBe(0);
    await expect(page.getByTestId('node-smart-node-1')).toHaveAttribute('data-health', /down|degraded/);
  } finally {
    await control(page, { action: 'revive_node', node: 0 });
  }
});

test('a node partitioned while both play: no request to it outlives its timeout, and the smart player plays on', async ({ page }) => {
  test.setTimeout(90_000);
  // Every fetch the page makes, and when it settled. A request to a
  // partitioned node never answers; one the players do not abort holds one
  // of the browser's six HTTP/1.1 connections to this origin until the
  // partition heals (a probe every 3 s once filled them and the players
  // stalled behind their own probes).
  await page.addInitScript(() => {
    const w = window as any;
    w.__fetches = [];
    const orig = window.fetch.bind(window);
    window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      const rec = { url: String(input instanceof Request ? input.url : input), at: performance.now(), settled: null as number | null };
      w.__fetches.push(rec);
      const p = orig(input, init);
      p.then(() => { rec.settled = performance.now(); }, () => { rec.settled = performance.now(); });
      return p;
    };
  });
  const pressed = await playBoth(page);
  await expect.poll(async () => (await element(page, 'smart')).t, { timeout: 30_000 }).toBeGreaterThan(3);
  await control(page, { action: 'partition_node', node: 0, partitioned: true });
  try {
    const cut = await page.evaluate(() => performance.now());
    const at = await element(page, 'smart');
    await page.waitForTimeout(16_000);
    const later = await element(page, 'smart');
    const open = await page.evaluate((since) => {
      const now = performance.now();
      return ((window as any).__fetches as { url: string; at: number; settled: number | null }[])
        .filter((f) => f.at >= since && /\/watch\/(smart|naive)\/0\//.test(f.url))
        .map((f) => ({ url: f.url.replace(/\?.*/, ''), open_ms: Math.round((f.settled ?? now) - f.at), settled: f.settled !== null }));
    }, cut);
    // The players kept asking node-1 (probes: that is how they see it come
    // back) ...
    expect(open.length, JSON.stringify(open)).toBeGreaterThan(2);
    // ... and let go of every request within 5 s (a probe's 2 s timeout,
    // a part's stall timeout, with room for a busy machine).
    expect(open.filter((f) => f.open_ms > 5_000), JSON.stringify(open)).toEqual([]);
    expect(later.t - at.t).toBeGreaterThan(14);
    const s = await elementStalls(page, 'smart', pressed);
    expect(s.stalls, JSON.stringify(s)).toBe(0);
  } finally {
    await control(page, { action: 'partition_node', node: 0, partitioned: false });
  }
});

test('the demo runs while both play, and the tab names the phase in force', async ({ page }) => {
  test.setTimeout(90_000);
  await playBoth(page);
  await expect.poll(async () => (await element(page, 'smart')).t, { timeout: 30_000 }).toBeGreaterThan(2);
  await page.getByTestId('demo-phase-s').fill('10');
  await page.getByTestId('demo-phase-s').dispatchEvent('change');
  await page.getByTestId('demo-start').click();
  try {
    await expect(page.getByTestId('watch-conditions')).toContainText(/demo phase \d of 8: /, { timeout: 20_000 });
    // The players go on under the demo's conditions.
    const t = (await element(page, 'smart')).t;
    await expect.poll(async () => (await element(page, 'smart')).t, { timeout: 15_000 }).toBeGreaterThan(t + 3);
    await page.screenshot({ path: path.join(artifacts, 'watch-demo.png'), fullPage: true });
  } finally {
    await page.getByTestId('demo-stop').click();
    await expect(page.getByTestId('watch-conditions')).not.toContainText('demo phase', { timeout: 20_000 });
  }
});

test('a phone shows the tab in one column', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('watch-play')).toBeVisible();
  const [s, n] = [await page.getByTestId('watch-smart').boundingBox(), await page.getByTestId('watch-naive').boundingBox()];
  expect(n!.y).toBeGreaterThan(s!.y + s!.height - 1);
  await page.screenshot({ path: path.join(artifacts, 'watch-phone.png'), fullPage: true });
  await page.close();
});

test('past --max-watchers the tab says how many are watching and plays nothing', async ({ page, request }) => {
  test.setTimeout(90_000);
  // The earlier tests' viewers leave 30 s after their last request; then
  // every place is filled with viewers of our own (pings, as a page makes).
  await expect.poll(async () => (await (await request.get(server.url + '/watch/api/manifest')).json()).watching,
    { timeout: 45_000, intervals: [1000] }).toBe(0);
  for (let i = 0; i < MAX_WATCHERS; i++) {
    const r = await request.get(`${server.url}/watch/smart/0/ping?viewer=e2e-filler-viewer-${i}&bytes=0`);
    expect(r.status()).toBe(200);
  }
  const full = await request.get(`${server.url}/watch/smart/0/ping?viewer=e2e-one-too-many-viewer&bytes=0`);
  expect(full.status()).toBe(429);
  expect(await full.json()).toMatchObject({ watching: MAX_WATCHERS, max_watchers: MAX_WATCHERS });
  await playBoth(page);
  await expect(page.getByTestId('watch-status')).toHaveText(new RegExp(`${MAX_WATCHERS} viewers are watching, the most this server takes`));
  expect((await element(page, 'smart')).t).toBe(0);
});
