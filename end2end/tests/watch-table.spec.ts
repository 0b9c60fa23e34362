// The Watch tab's measurement table (README, "Watch it play"): both browser
// players and the headless twins, started together, 3 runs per scenario:
// the default profile, `degraded`, a node killed 20 s into playback and
// `low_bandwidth`. The browser's startup and stalls come from the <video>
// elements' own events; the twins' from `GET /api/status`, the server-side
// engine on the same nodes, at real speed (`--speed 1`) so both face the
// same conditions at the same time.
//
// Every scenario on a fresh server (empty data directory), warmed up for a
// minute. Opt-in (it takes about 4 × (60 s + 3 × (window + 10 s))): scripts/watch-table.sh,
// or VSTACK_WATCH_TABLE=1 npx playwright test tests/watch-table.spec.ts.
// Figures land in end2end/artifacts/watch-table.{json,md}.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';
import { type ElementStalls, type Kind, elementStalls, recordEvents } from './watch-events';

const enabled = !!process.env.VSTACK_WATCH_TABLE;
const port = Number(process.env.VSTACK_E2E_WATCH_TABLE_PORT ?? 18897);
/** Seconds of playback measured per run (default 60). */
const WINDOW_S = Number(process.env.VSTACK_WATCH_WINDOW_S ?? 60);
const RUNS = Number(process.env.VSTACK_WATCH_RUNS ?? 3);
/** When the node dies in the kill scenario, s after play is pressed. */
const KILL_AT_S = 20;
const artifacts = path.resolve(__dirname, '..', 'artifacts');
/** Seconds a new server plays before the first run (default 60): in its
 * first minute the twins' smart startup measured 1.6–1.8 s, after it
 * 0.4–0.5 s (cause not pinned down), and a viewer sees what the twins
 * see. */
const WARMUP_S = Number(process.env.VSTACK_WATCH_WARMUP_S ?? 60);
/** The server of the scenario in progress: every scenario gets a fresh
 * one (its own port and an empty data directory), so none inherits
 * another's aftermath (measured: `low_bandwidth` right after the kill
 * scenario on the same server stalled the naive player 32 s instead of
 * 6.7 s, twin and browser alike). */
let server = new VstackServer(port, ['--speed', '1']);
let serversStarted = 0;

async function freshServer(): Promise<void> {
  await server.stopAll();
  server = new VstackServer(port + 10 + (serversStarted++ % 20), ['--speed', '1']);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
  await server.start();
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
}

const scenarios = [
  { name: 'default profile', scenario: 'normal', kill: false },
  { name: 'degraded', scenario: 'degraded', kill: false },
  { name: `node-1 killed ${KILL_AT_S} s in`, scenario: 'normal', kill: true },
  { name: 'low_bandwidth', scenario: 'low_bandwidth', kill: false },
];

type Figures = ElementStalls;
interface Run { browser: Record<Kind, Figures & { played_s: number; frames: number }>; twins: Record<Kind, Figures & { session: number }> }
const results: Record<string, Run[]> = {};

test.beforeAll(async () => {
  if (!enabled) return;
  fs.mkdirSync(artifacts, { recursive: true });
});
test.afterAll(async () => {
  if (!enabled) return;
  await server.stopAll();
  fs.writeFileSync(path.join(artifacts, 'watch-table.json'), JSON.stringify({ window_s: WINDOW_S, runs: RUNS, results }, null, 1));
  fs.writeFileSync(path.join(artifacts, 'watch-table.md'), table());
  console.log(table());
});

async function control(page: Page, body: object) {
  const r = await page.request.post(server.url + '/api/fn/control', { data: { control: body } });
  expect(r.status(), await r.text()).toBe(200);
}

async function oneRun(page: Page, s: (typeof scenarios)[number]): Promise<Run> {
  await control(page, { action: 'scenario', name: s.scenario });
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await recordEvents(page);
  // The twins restart and the players start together.
  const pressed = await page.evaluate(() => performance.now());
  await Promise.all([control(page, { action: 'restart' }), page.getByTestId('watch-play').click()]);
  try {
    if (s.kill) {
      await page.waitForTimeout(KILL_AT_S * 1000);
      await control(page, { action: 'kill_node', node: 0 });
      await page.waitForTimeout((WINDOW_S - KILL_AT_S) * 1000);
    } else {
      await page.waitForTimeout(WINDOW_S * 1000);
    }
    const status = await (await page.request.get(server.url + '/api/status')).json();
    const run = { browser: {}, twins: {} } as Run;
    for (const kind of ['smart', 'naive'] as Kind[]) {
      const el = await page.evaluate((k) => {
        const v = document.querySelector(`[data-testid=watch-video-${k}]`) as HTMLVideoElement;
        return { played_s: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames };
      }, kind);
      run.browser[kind] = { ...(await elementStalls(page, kind, pressed)), ...el };
      const t = status[kind];
      run.twins[kind] = {
        startup_ms: t.startup_latency_ms,
        stalls: t.rebuffer_count,
        stall_ms: t.rebuffer_time_ms,
        session: t.session,
      };
    }
    return run;
  } finally {
    await page.getByTestId('watch-stop').click().catch(() => {});
    if (s.kill) await control(page, { action: 'revive_node', node: 0 });
    await control(page, { action: 'scenario', name: 'normal' });
  }
}

for (const s of scenarios) {
  test(`watch table: ${s.name}`, async ({ page }) => {
    test.skip(!enabled, 'opt-in: VSTACK_WATCH_TABLE=1 (scripts/watch-table.sh)');
    test.setTimeout((WARMUP_S + 30 + RUNS * (WINDOW_S + 40)) * 1000);
    await freshServer();
    results[s.name] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await oneRun(page, s);
      console.log(`${s.name} run ${i + 1}: ${JSON.stringify(run)}`);
      results[s.name].push(run);
      // Something was measured: both players reached a first frame.
      for (const kind of ['smart', 'naive'] as Kind[]) {
        expect(run.browser[kind].frames, `${kind} decoded frames`).toBeGreaterThan(0);
      }
    }
  });
}

const ms = (v: number | null) => (v === null ? '—' : `${(v / 1000).toFixed(2)}`);
const stalls = (f: Figures) => `${f.stalls} · ${(f.stall_ms / 1000).toFixed(1)} s`;

/** The README's table: per scenario and player, each run's figures. */
function table(): string {
  const lines = [
    `Window ${WINDOW_S} s of playback per run, ${RUNS} runs; startup in s (play pressed → first frame), stalls as count · time.`,
    '',
    '| scenario | player | browser startup (s) | browser stalls | twin startup (s) | twin stalls |',
    '|---|---|---|---|---|---|',
  ];
  for (const [name, runs] of Object.entries(results)) {
    for (const kind of ['smart', 'naive'] as Kind[]) {
      lines.push(`| ${name} | ${kind} | ${runs.map((r) => ms(r.browser[kind].startup_ms)).join(' / ')} | ${runs.map((r) => stalls(r.browser[kind])).join(' / ')} | ${runs.map((r) => ms(r.twins[kind].startup_ms)).join(' / ')} | ${runs.map((r) => stalls(r.twins[kind])).join(' / ')} |`);
    }
  }
  return lines.join('\n') + '\n';
}
