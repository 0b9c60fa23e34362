// The players' table (README, "hls.js beside it"): vstack's two browser
// players and hls.js, the player most sites ship, on the same nodes in the
// same Chromium, per scenario: the default profile, `degraded`,
// `low_bandwidth`, node-1 killed 20 s in, node-1 partitioned 20 s in, and
// the nodes on recorded 4G/LTE traces. hls.js plays from each node alone,
// from every node as static pathways, and with vstack's content steering.
//
// Every figure is the <video> element's own (startup: play pressed → first
// `playing`; a stall: `waiting` → `playing`, one still open at the end
// counted to the end) or what the page says is playing (the BANDWIDTH of
// the segment at the playhead: the engine's snapshot for vstack, hls.js's
// FRAG_CHANGED for hls.js), sampled every 250 ms. Linear QoE (Pensieve) over
// the segments played in the window: Σ R (Mbit/s) − 4.3 × (startup + stall
// s) − Σ |ΔR|; a player that never starts scores −4.3 × the window.
//
// Time to move off the bad node (hls.js, with pathways or steering): node-1
// is the bad one (`degraded` from the start, killed or partitioned at the
// event). Every segment request hls.js makes (its XHRs to
// `/watch/hls/{node}/segments/…`) is recorded with the node and the page
// times it was sent and ended (loaded, failed, timed out or aborted). The
// time to move off is from the moment node-1 turns bad to the end of the
// last node-1 segment request open then or sent after: 0 when none was,
// `null` when one was still open at the end. A stretch in which hls.js
// loads nothing (buffer full) is not time on node-1. The steering target:
// within TTL + one segment.
//
// Players run in groups so at most three videos decode at once on the test
// machine: (vstack smart + naive), (hls.js steering, pathways, node-1),
// (hls.js node-2, node-3); each group gets the same scenario and event at
// the same offsets. Every player has a page (a browser context) of its
// own, and plays alone in it: a vstack player through the Watch tab's
// "Smart only" / "Naive only" (tables before 2026-12-07 pressed "Play
// both" in each vstack page, so four engine players and four videos ran
// in that group, two of them unmeasured). Every scenario on a fresh server, warmed up first.
// Opt-in: scripts/players-table.sh or VSTACK_PLAYERS_TABLE=1. Figures land
// in end2end/artifacts/players-table.{json,md}. With VSTACK_PLAYERS_PUBLISH
// (a vstack server's URL; VSTACK_PLAYERS_TOKEN its admin token in public
// mode) the table is published there as a run permalink (`/runs/{id}`);
// VSTACK_PLAYERS_FROM=<players-table.json> publishes a saved table without
// running anything.
import { test, expect, type Browser, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VstackServer, binary } from './server';
import { stallsOf } from './watch-events';

const enabled = !!process.env.VSTACK_PLAYERS_TABLE;
/** A saved table to publish instead of running. */
const from = process.env.VSTACK_PLAYERS_FROM;
const publishTo = process.env.VSTACK_PLAYERS_PUBLISH;
const port = Number(process.env.VSTACK_E2E_PLAYERS_PORT ?? 18930);
/** Seconds of playback measured per group run (default 90: 70 s after
 * the event, so hls.js's 30 s buffer can run out). */
const WINDOW_S = Number(process.env.VSTACK_PLAYERS_WINDOW_S ?? 90);
const RUNS = Number(process.env.VSTACK_PLAYERS_RUNS ?? 3);
/** When node-1 dies or is cut off in those scenarios, s after play. */
const EVENT_AT_S = 20;
/** Seconds a fresh server plays before the first run (default 20). */
const WARMUP_S = Number(process.env.VSTACK_PLAYERS_WARMUP_S ?? 20);
/** The trace set of the trace scenario (one trace per node). */
const TRACES = process.env.VSTACK_PLAYERS_TRACES
  ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'traces', 'lte-4g');
const artifacts = path.resolve(__dirname, '..', 'artifacts');
/** Pensieve's stall penalty, per second (as `vstack_core::abr`). */
const REBUFFER_PENALTY = 4.3;
/** `vstack serve --steering-ttl-s` default: the steering manifest's TTL, s. */
const STEERING_TTL_S = 5;

interface Scenario { name: string; scenario: string; event?: 'kill' | 'partition'; traces?: boolean; badFromStart?: boolean }
const scenarios: Scenario[] = [
  { name: 'default profile', scenario: 'normal' },
  { name: 'degraded', scenario: 'degraded', badFromStart: true },
  { name: 'low_bandwidth', scenario: 'low_bandwidth' },
  { name: `node-1 killed ${EVENT_AT_S} s in`, scenario: 'normal', event: 'kill' },
  { name: `node-1 partitioned ${EVENT_AT_S} s in`, scenario: 'normal', event: 'partition' },
  { name: '4G/LTE traces', scenario: 'normal', traces: true },
];

/** A player: vstack's engine (`smart`, `naive`) or hls.js from an origin. */
type Player = { kind: 'vstack'; engine: 'smart' | 'naive' } | { kind: 'hls'; origin: string };
const playerName = (p: Player) => (p.kind === 'vstack' ? `vstack ${p.engine}` : p.origin === 'steering'
  ? "hls.js + vstack's steering" : p.origin === 'pathways' ? 'hls.js, static pathways' : `hls.js on node-${Number(p.origin) + 1}`);
const groups: Player[][] = [
  [{ kind: 'vstack', engine: 'smart' }, { kind: 'vstack', engine: 'naive' }],
  [{ kind: 'hls', origin: 'steering' }, { kind: 'hls', origin: 'pathways' }, { kind: 'hls', origin: '0' }],
  [{ kind: 'hls', origin: '1' }, { kind: 'hls', origin: '2' }],
];
const players = groups.flat().map(playerName);

interface Figures {
  startup_ms: number | null;
  stalls: number;
  stall_ms: number;
  played_kbps: number | null;
  switches: number;
  segments: number;
  linear_qoe: number;
  frames: number;
  /** hls.js with pathways or steering, where node-1 turns bad: seconds
   * from then until it no longer loads from node-1 (see the header);
   * `null` if it still did at the end; absent elsewhere. */
  moved_s?: number | null;
}
/** Finished scenarios so far, kept on disk: a scenario that misses a
 * target fails its test, and Playwright then starts a fresh worker, which
 * loads this module again. scripts/players-table.sh removes it first. */
const partial = path.join(artifacts, 'players-table.partial.json');
const kept = enabled && !from && fs.existsSync(partial) ? JSON.parse(fs.readFileSync(partial, 'utf8')) : null;
let results: Record<string, Record<string, Figures[]>> = kept?.results ?? {};
const startedUnixMs: number = kept?.started_unix_ms ?? Date.now();
let chromium = '';

let server = new VstackServer(port, []);
let serversStarted = 0;

async function freshServer(s: Scenario): Promise<void> {
  await server.stopAll();
  const args = ['--speed', '1', ...(s.traces ? ['--trace', TRACES] : [])];
  server = new VstackServer(port + 1 + (serversStarted++ % 20), args);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
  await server.start();
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
}

async function control(page: Page, body: object) {
  const r = await page.request.post(server.url + '/api/fn/control', { data: { control: body } });
  expect(r.status(), await r.text()).toBe(200);
}

const videoSelector = (p: Player) => `[data-testid=watch-video-${p.kind === 'vstack' ? p.engine : 'hls'}]`;

/** Opens the Watch tab for `p` and starts sampling its element: events,
 * and every 250 ms the position and the BANDWIDTH playing. */
async function open(browser: Browser, p: Player): Promise<Page> {
  const page = await browser.newPage();
  // hls.js's segment requests (its loader is XHR): node, sent, ended.
  if (p.kind === 'hls') {
    await page.addInitScript(() => {
      const w = window as any;
      w.__loads = [];
      const open = XMLHttpRequest.prototype.open;
      XMLHttpRequest.prototype.open = function (this: XMLHttpRequest, method: string, url: string | URL, ...rest: any[]) {
        (this as any).__node = /\/watch\/hls\/(\d+)\/segments\//.exec(String(url))?.[1] ?? null;
        return (open as any).call(this, method, url, ...rest);
      };
      const send = XMLHttpRequest.prototype.send;
      XMLHttpRequest.prototype.send = function (this: XMLHttpRequest, ...args: any[]) {
        const node = (this as any).__node;
        if (node !== null && node !== undefined) {
          const load = { node, sent: performance.now(), ended: null as number | null };
          w.__loads.push(load);
          this.addEventListener('loadend', () => { load.ended = performance.now(); });
        }
        return send.apply(this, args as any);
      };
    });
  }
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  if (p.kind === 'hls') await page.getByTestId('watch-hls-origin').selectOption(p.origin);
  await page.evaluate(({ sel, engine }) => {
    const w = window as any;
    const v = document.querySelector(sel) as HTMLVideoElement;
    w.__events = [];
    w.__samples = [];
    for (const name of ['waiting', 'playing']) v.addEventListener(name, () => w.__events.push({ name, at: performance.now() }));
    setInterval(() => {
      let kbps: number | null = null;
      if (engine) {
        const m = /· (\d+) kbit\/s/.exec(document.querySelector(`[data-testid=quality-${engine}]`)?.textContent ?? '');
        kbps = m ? Number(m[1]) : null;
      } else {
        const a = document.querySelector('[data-testid=watch-hls-figures]')?.getAttribute('data-playing-kbps');
        kbps = a ? Number(a) : null;
      }
      w.__samples.push({ pos: v.currentTime, kbps, at: performance.now() });
    }, 250);
  }, { sel: videoSelector(p), engine: p.kind === 'vstack' ? p.engine : null });
  return page;
}

/** Presses play; returns the page time of the press. */
async function play(page: Page, p: Player): Promise<number> {
  const pressed = await page.evaluate(() => performance.now());
  // A vstack player plays alone in its page ("Smart only" / "Naive only"):
  // the other engine's requests and video stay out of its browser.
  await page.getByTestId(p.kind === 'vstack' ? `watch-play-${p.engine}` : 'watch-hls-play').click();
  return pressed;
}

/** A segment request hls.js made: the node's index, page times (ms) it
 * was sent and ended (`null` while open). */
interface Load { node: string; sent: number; ended: number | null }

/** Seconds from `badAt` (page time, ms) to the end of the last node-1
 * (index 0) segment request open then or sent after: see the header. */
function movedOff(loads: Load[], badAt: number): number | null {
  const bad = loads.filter((l) => l.node === '0' && (l.ended === null || l.ended > badAt));
  if (bad.some((l) => l.ended === null)) return null;
  if (!bad.length) return 0;
  return (Math.max(...bad.map((l) => l.ended as number)) - badAt) / 1000;
}

async function figures(page: Page, p: Player, pressed: number, segmentS: number, badAt: number | null): Promise<Figures> {
  const { events, samples, loads, now, frames } = await page.evaluate((sel) => {
    const w = window as any;
    const v = document.querySelector(sel) as HTMLVideoElement;
    return { events: w.__events, samples: w.__samples, loads: w.__loads ?? [], now: performance.now(), frames: v.getVideoPlaybackQuality().totalVideoFrames };
  }, videoSelector(p));
  const { startup_ms: startupMs, stalls, stall_ms: stallMs } = stallsOf(events, pressed, now);
  // hls.js played, so it loaded segments: none recorded means the
  // recording is broken, and a move-off time read from it would be 0.
  if (p.kind === 'hls' && startupMs !== null && loads.length === 0) throw new Error(`${playerName(p)} played but no segment request was recorded`);
  // The segments played: the first BANDWIDTH seen at each segment index.
  const bySegment = new Map<number, number>();
  for (const s of samples as { pos: number; kbps: number | null }[]) {
    if (startupMs === null || s.kbps === null || s.pos <= 0) continue;
    const i = Math.floor(s.pos / segmentS);
    if (!bySegment.has(i)) bySegment.set(i, s.kbps);
  }
  const rates = [...bySegment.entries()].sort((a, b) => a[0] - b[0]).map(([, k]) => k);
  let switches = 0;
  let switchMbps = 0;
  for (let i = 1; i < rates.length; i++) {
    if (rates[i] !== rates[i - 1]) { switches += 1; switchMbps += Math.abs(rates[i] - rates[i - 1]) / 1000; }
  }
  const waitS = ((startupMs ?? WINDOW_S * 1000) + stallMs) / 1000;
  const sumMbps = rates.reduce((a, k) => a + k / 1000, 0);
  return {
    startup_ms: startupMs,
    stalls,
    stall_ms: stallMs,
    played_kbps: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : null,
    switches,
    segments: rates.length,
    linear_qoe: sumMbps - REBUFFER_PENALTY * waitS - switchMbps,
    frames,
    ...(badAt !== null && p.kind === 'hls' && (p.origin === 'pathways' || p.origin === 'steering')
      ? { moved_s: movedOff(loads, badAt) } : {}),
  };
}

async function stopAll(pages: Page[], group: Player[]) {
  for (const [i, page] of pages.entries()) {
    const stop = group[i].kind === 'vstack' ? 'watch-stop' : 'watch-hls-stop';
    await page.getByTestId(stop).click({ timeout: 5_000 }).catch(() => {});
    await page.close().catch(() => {});
  }
}

/** One group's run under `s`: every player started together, the event
 * at EVENT_AT_S, figures at WINDOW_S. */
async function runGroup(browser: Browser, s: Scenario, group: Player[], segmentS: number): Promise<Record<string, Figures>> {
  const pages: Page[] = [];
  for (const p of group) pages.push(await open(browser, p));
  await control(pages[0], { action: 'scenario', name: s.scenario });
  try {
    const pressed = await Promise.all(group.map((p, i) => play(pages[i], p)));
    // When node-1 turns bad, in each page's own clock.
    let badAt: (number | null)[] = group.map((_, i) => (s.badFromStart ? pressed[i] : null));
    if (s.event) {
      await pages[0].waitForTimeout(EVENT_AT_S * 1000);
      await control(pages[0], s.event === 'kill' ? { action: 'kill_node', node: 0 } : { action: 'partition_node', node: 0, partitioned: true });
      badAt = await Promise.all(pages.map((pg) => pg.evaluate(() => performance.now())));
      await pages[0].waitForTimeout((WINDOW_S - EVENT_AT_S) * 1000);
    } else {
      await pages[0].waitForTimeout(WINDOW_S * 1000);
    }
    const out: Record<string, Figures> = {};
    for (const [i, p] of group.entries()) out[playerName(p)] = await figures(pages[i], p, pressed[i], segmentS, badAt[i]);
    return out;
  } finally {
    if (s.event === 'kill') await control(pages[0], { action: 'revive_node', node: 0 });
    if (s.event === 'partition') await control(pages[0], { action: 'partition_node', node: 0, partitioned: false });
    await stopAll(pages, group);
  }
}

test.beforeAll(() => {
  if (enabled) fs.mkdirSync(artifacts, { recursive: true });
});
test.afterAll(async () => {
  if (from) {
    const saved = JSON.parse(fs.readFileSync(from, 'utf8'));
    // A table saved without its times ends when the file was written.
    const written = Math.round(fs.statSync(from).mtimeMs);
    saved.finished_unix_ms ??= written;
    saved.started_unix_ms ??= written;
    saved.chromium ??= 'unrecorded';
    results = saved.results;
    await publish(saved);
    return;
  }
  if (!enabled) return;
  await server.stopAll();
  const doc = {
    window_s: WINDOW_S, runs: RUNS, event_at_s: EVENT_AT_S, players, results, verdicts: verdicts(),
    segment_s: segmentSeconds, steering_ttl_s: STEERING_TTL_S, move_target_s: moveTargetS(),
    started_unix_ms: startedUnixMs, finished_unix_ms: Date.now(), chromium,
  };
  fs.writeFileSync(path.join(artifacts, 'players-table.json'), JSON.stringify(doc, null, 1));
  fs.writeFileSync(path.join(artifacts, 'players-table.md'), table());
  console.log(table());
  await publish(doc);
});

/** The table as a run record (`vstack_core::wire::RunRecord`). */
function record(doc: any): object {
  const v = verdicts();
  const names = Object.keys(v);
  const met = names.filter((n) => v[n].qoe_met && v[n].stall_met).length;
  const cells: string[][] = [];
  for (const [name, byPlayer] of Object.entries(results)) {
    for (const player of players) {
      const fs = byPlayer[player] ?? [];
      cells.push([name, player, fs.map((f) => sec(f.startup_ms)).join(' / '),
        fs.map((f) => `${f.stalls} · ${(f.stall_ms / 1000).toFixed(1)} s`).join(' / '),
        fs.map((f) => (f.played_kbps === null ? '—' : f.played_kbps.toFixed(0))).join(' / '),
        fs.map((f) => String(f.switches)).join(' / '),
        fs.map((f) => f.linear_qoe.toFixed(1)).join(' / '),
        mean(fs.map((f) => f.linear_qoe)).toFixed(1)]);
    }
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    summary: {
      id: crypto.randomBytes(8).toString('hex'),
      kind: 'players',
      title: `Players: vstack beside hls.js, ${names.length} scenarios × ${doc.runs} runs of ${doc.window_s} s`,
      headline: `${met}/${names.length} scenarios: vstack smart's linear QoE ≥ hls.js's best, and no stall where hls.js stalls`,
      passed: met === names.length,
      started_unix_ms: doc.started_unix_ms,
      finished_unix_ms: doc.finished_unix_ms,
      conditions: `Chromium ${doc.chromium}, headless; test-video-001 (ladder from its multivariant playlist, 10 s segments); node-1 killed or partitioned ${doc.event_at_s} s in; players in groups of at most three at once, each alone in its page`,
      source: 'published',
    },
    machine: [['CPUs', String(os.cpus().length)], ['memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`], ['OS', `${os.type()} ${os.release()}`]],
    version,
    tables: [
      { title: 'Every cell (each run; startup and stall time in s, played BANDWIDTH in kbit/s, linear QoE in Mbit/s units)',
        columns: ['scenario', 'player', 'startup s', 'stalls', 'played kbit/s', 'switches', 'linear QoE', 'mean QoE'], rows: cells },
      { title: "Targets: vstack smart against hls.js's best configuration",
        columns: ['scenario', 'vstack smart QoE', 'best hls.js', 'its QoE', 'QoE target met', 'smart stalls / hls.js stalled'],
        rows: names.map((n) => [n, v[n].smart_qoe.toFixed(1), v[n].best_hls, v[n].best_hls_qoe.toFixed(1), v[n].qoe_met ? 'yes' : 'no', `${v[n].smart_stalls} / ${v[n].hls_stalled ? 'yes' : 'no'}`]) },
      { title: `Time to move off node-1 once it turns bad, s per run (steering target ≤ ${moveTargetS()} s: TTL ${STEERING_TTL_S} s + one segment)`,
        columns: ['scenario', "hls.js + vstack's steering", 'hls.js, static pathways', 'steering target met'],
        rows: names.filter((n) => v[n].moved_met !== null).map((n) => [n, movedText(v[n].steering_moved_s), movedText(v[n].pathways_moved_s), v[n].moved_met ? 'yes' : 'no']) },
    ],
    charts: [{
      title: 'Mean linear QoE per scenario', y_name: 'linear QoE', categories: names,
      series: players.map((p) => ({ name: p, values: names.map((n) => { const m = mean((results[n][p] ?? []).map((f) => f.linear_qoe)); return Number.isFinite(m) ? m : 0; }) })),
    }],
    notes: names.map((n) => `${n}: vstack smart ${v[n].smart_qoe.toFixed(1)} against ${v[n].best_hls} ${v[n].best_hls_qoe.toFixed(1)}`),
    report: doc,
  };
}

/** Publishes the table to VSTACK_PLAYERS_PUBLISH, printing the permalink. */
async function publish(doc: any): Promise<void> {
  if (!publishTo) return;
  const base = publishTo.replace(/\/$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (process.env.VSTACK_PLAYERS_TOKEN) headers.authorization = `Bearer ${process.env.VSTACK_PLAYERS_TOKEN}`;
  const r = await fetch(`${base}/api/runs`, { method: 'POST', headers, body: JSON.stringify(record(doc)) });
  const body = await r.text();
  if (r.status !== 201) throw new Error(`publishing to ${base} answered ${r.status}: ${body}`);
  console.log(`published: ${base}${JSON.parse(body).url}`);
}

// Runs always (no browser, no server): the reading of time-to-move.
test('time to move off node-1 is read from the segment requests', () => {
  const load = (node: string, sent: number, ended: number | null) => ({ node, sent: sent * 1000, ended: ended === null ? null : ended * 1000 });
  // A node-1 load open at 20 s that failed at 31.75 s: 11.75 s.
  expect(movedOff([load('0', 15, 19), load('0', 19, 31.75), load('1', 31.8, 33)], 20_000)).toBeCloseTo(11.75, 6);
  // Every node-1 load ended before it turned bad, none sent after: 0,
  // however long the buffer kept hls.js from loading at all.
  expect(movedOff([load('0', 10, 19), load('1', 45, 47)], 20_000)).toBe(0);
  // A node-1 load still open at the end: never.
  expect(movedOff([load('1', 21, 22), load('0', 25, null)], 20_000)).toBeNull();
  // Back on node-1 after a while counts to that load's end.
  expect(movedOff([load('1', 21, 22), load('0', 22, 23), load('2', 23, 24)], 20_000)).toBe(3);
});

for (const s of scenarios) {
  test(`players table: ${s.name}`, async ({ browser }) => {
    test.skip(!enabled || !!from, 'opt-in: VSTACK_PLAYERS_TABLE=1 (scripts/players-table.sh)');
    chromium = browser.version();
    if (s.traces) expect(fs.existsSync(TRACES), `the trace set ${TRACES}`).toBe(true);
    test.setTimeout((WARMUP_S + 60 + RUNS * groups.length * (WINDOW_S + 30)) * 1000);
    await freshServer(s);
    const manifest = await (await fetch(server.url + '/watch/api/manifest')).json();
    const segmentS = manifest.chunks.find((c: any) => c.duration_ms > 0).duration_ms / 1000;
    segmentSeconds = segmentS;
    results[s.name] = Object.fromEntries(players.map((n) => [n, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const group of groups) {
        const out = await runGroup(browser, s, group, segmentS);
        console.log(`${s.name} run ${run + 1}: ${JSON.stringify(out)}`);
        for (const [name, f] of Object.entries(out)) results[s.name][name].push(f);
      }
    }
    fs.writeFileSync(partial, JSON.stringify({ started_unix_ms: startedUnixMs, results }));
    // Something was measured: vstack smart and at least one hls.js player
    // decoded frames in every run.
    for (const f of results[s.name]['vstack smart']) expect(f.frames, 'vstack smart decoded frames').toBeGreaterThan(0);
    const hlsFrames = players.filter((n) => n.startsWith('hls.js')).map((n) => Math.max(...results[s.name][n].map((f) => f.frames)));
    expect(Math.max(...hlsFrames), 'some hls.js player decoded frames').toBeGreaterThan(0);
    const v = verdicts()[s.name];
    expect.soft(v.qoe_met, `vstack smart's QoE ${v.smart_qoe.toFixed(1)} ≥ best hls.js ${v.best_hls_qoe.toFixed(1)} (${v.best_hls})`).toBe(true);
    if (s.event) expect.soft(v.stall_met, 'no vstack smart stall where an hls.js configuration stalls').toBe(true);
    if (v.moved_met !== null) expect.soft(v.moved_met, `hls.js with steering off node-1 within ${moveTargetS()} s: ${movedText(v.steering_moved_s)}`).toBe(true);
  });
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** Per scenario: smart's mean QoE against the best hls.js configuration's,
 * and whether smart stalled where hls.js did. */
function verdicts(): Record<string, { smart_qoe: number; best_hls: string; best_hls_qoe: number; qoe_met: boolean; smart_stalls: number; hls_stalled: boolean; stall_met: boolean; steering_moved_s: (number | null)[]; pathways_moved_s: (number | null)[]; moved_met: boolean | null }> {
  const out: ReturnType<typeof verdicts> = {};
  for (const [name, byPlayer] of Object.entries(results)) {
    const smart = byPlayer['vstack smart'] ?? [];
    const hls = Object.entries(byPlayer).filter(([n]) => n.startsWith('hls.js'))
      .map(([n, fs]) => [n, mean(fs.map((f) => f.linear_qoe))] as const)
      .sort((a, b) => b[1] - a[1]);
    const smartQoe = mean(smart.map((f) => f.linear_qoe));
    const smartStalls = smart.reduce((a, f) => a + f.stalls, 0);
    const hlsStalled = Object.entries(byPlayer).some(([n, fs]) => n.startsWith('hls.js') && fs.some((f) => f.stalls > 0 || f.startup_ms === null));
    const moved = (player: string) => (byPlayer[player] ?? []).filter((f) => f.moved_s !== undefined).map((f) => f.moved_s ?? null);
    const steeringMoved = moved("hls.js + vstack's steering");
    out[name] = {
      steering_moved_s: steeringMoved,
      pathways_moved_s: moved('hls.js, static pathways'),
      // Every run moved off node-1 within TTL + one segment.
      moved_met: steeringMoved.length ? steeringMoved.every((m) => m !== null && m <= moveTargetS()) : null,
      smart_qoe: smartQoe,
      best_hls: hls[0]?.[0] ?? '—',
      best_hls_qoe: hls[0]?.[1] ?? NaN,
      qoe_met: hls.length > 0 && smartQoe >= hls[0][1],
      smart_stalls: smartStalls,
      hls_stalled: hlsStalled,
      stall_met: !hlsStalled || smartStalls === 0,
    };
  }
  return out;
}

const sec = (ms: number | null) => (ms === null ? 'never' : (ms / 1000).toFixed(2));
const movedText = (xs: (number | null)[]) => (xs.length ? xs.map((m) => (m === null ? 'never' : m.toFixed(1))).join(' / ') : '—');
/** The video's segment length, s (read from the manifest in each test). */
let segmentSeconds = 10;
/** The move target: the steering TTL plus one segment, s. */
const moveTargetS = () => STEERING_TTL_S + segmentSeconds;

/** The README's table: every cell, each run's figures. */
function table(): string {
  const lines = [
    `Window ${WINDOW_S} s of playback per run, ${RUNS} runs; startup in s (play pressed → first frame), stalls as count · time, played BANDWIDTH in kbit/s, linear QoE over the segments played (Σ R − 4.3 × wait − Σ |ΔR|, Mbit/s).`,
    '',
    '| scenario | player | startup (s) | stalls | played kbit/s | switches | linear QoE | mean QoE |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, byPlayer] of Object.entries(results)) {
    for (const player of players) {
      const fs = byPlayer[player] ?? [];
      lines.push(`| ${name} | ${player} | ${fs.map((f) => sec(f.startup_ms)).join(' / ')} | ${fs.map((f) => `${f.stalls} · ${(f.stall_ms / 1000).toFixed(1)} s`).join(' / ')} | ${fs.map((f) => (f.played_kbps === null ? '—' : f.played_kbps.toFixed(0))).join(' / ')} | ${fs.map((f) => f.switches).join(' / ')} | ${fs.map((f) => f.linear_qoe.toFixed(1)).join(' / ')} | ${mean(fs.map((f) => f.linear_qoe)).toFixed(1)} |`);
    }
  }
  lines.push('', '| scenario | vstack smart QoE | best hls.js | its QoE | target met | smart stalls / hls.js stalled |', '|---|---|---|---|---|---|');
  for (const [name, v] of Object.entries(verdicts())) {
    lines.push(`| ${name} | ${v.smart_qoe.toFixed(1)} | ${v.best_hls} | ${v.best_hls_qoe.toFixed(1)} | ${v.qoe_met ? 'yes' : 'no'} | ${v.smart_stalls} / ${v.hls_stalled ? 'yes' : 'no'} |`);
  }
  lines.push('', `Time to move off node-1 once it turns bad, s per run (target for steering: ≤ ${moveTargetS()} s, TTL ${STEERING_TTL_S} s + one ${segmentSeconds} s segment):`, '',
    '| scenario | hls.js + vstack\'s steering | hls.js, static pathways | steering target met |', '|---|---|---|---|');
  for (const [name, v] of Object.entries(verdicts())) {
    if (v.moved_met === null) continue;
    lines.push(`| ${name} | ${movedText(v.steering_moved_s)} | ${movedText(v.pathways_moved_s)} | ${v.moved_met ? 'yes' : 'no'} |`);
  }
  return lines.join('\n') + '\n';
}
