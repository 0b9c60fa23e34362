// `vstack steer` in front of two origins vstack does not serve: two plain
// static HTTP servers (this test's own, Node's http module) hold the same
// fMP4 HLS rendition made by ffmpeg; hls.js (the npm build the site ships)
// plays the steered playlist in Chromium. Origin b answers 200 ms later
// than a, so the ranking puts a first and the player takes every segment
// from it; 12 s into playback origin a turns slow (1.5 s before every
// response, no error, so hls.js's own error failover never fires): only the
// steering manifest can move it. Judged: a segment request reaches origin b
// within MOVE_TARGET_MS of the slowdown (a probe interval and the slow
// answer for vstack to see it, the TTL + one segment, and the request
// already waiting on origin a: 8 s), and the video keeps playing.
import { test, expect } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { binary, proxy } from './server';

const root = path.resolve(__dirname, '..', '..');
const hlsJs = path.join(root, 'public', 'vendor', 'hls.min.js');
const port = Number(process.env.VSTACK_E2E_STEER_PORT ?? 18960);
const TTL_S = 2;
const SEGMENT_S = 2;
const PROBE_INTERVAL_S = 1;
const SLOW_AT_S = 12;
/** Origin a's delay once slow, ms. */
const SLOW_MS = 1500;
/** The move's bound: a probe sees the slowdown (an interval, then its own
 * slow answer), then the spec's TTL + one segment, plus the segment request
 * already waiting on the slow origin. */
const MOVE_TARGET_MS = PROBE_INTERVAL_S * 1000 + SLOW_MS + TTL_S * 1000 + SEGMENT_S * 1000 + SLOW_MS;

/** A static origin: serves `dir` with CORS, records each segment request
 * of the player (time, file), and waits `delayMs` before every answer. */
function origin(dir: string, name: string) {
  const state = { delayMs: 0, segments: [] as { at: number; file: string }[] };
  const server = http.createServer((req, res) => {
    const file = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const full = path.join(dir, path.normalize(file));
    // The player's segment requests, as they arrive; vstack steer's probes
    // ask a Range.
    if (file.endsWith('.m4s') && !req.headers.range) state.segments.push({ at: Date.now(), file });
    setTimeout(() => {
      if (file === '/player.html' || file === '/hls.min.js') {
        const body = file === '/hls.min.js' ? fs.readFileSync(hlsJs) : playerHtml();
        res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
        res.end(body);
        return;
      }
      if (!full.startsWith(dir) || !fs.existsSync(full) || fs.statSync(full).isDirectory()) {
        res.writeHead(404, { 'access-control-allow-origin': '*' });
        res.end();
        return;
      }
      const type = file.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp4';
      res.writeHead(200, { 'content-type': type, 'access-control-allow-origin': '*' });
      res.end(fs.readFileSync(full));
    }, state.delayMs);
  });
  return { name, state, server };
}

function playerHtml(): string {
  return `<!doctype html><html><body><video id=v muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  window.__playing = false;
  window.start = (url) => {
    const v = document.getElementById('v');
    const hls = new Hls({ enableWorker: false, maxBufferLength: 8, maxMaxBufferLength: 8 });
    hls.on(Hls.Events.STEERING_MANIFEST_LOADED, (_e, d) => { window.__priority = d.steeringManifest['PATHWAY-PRIORITY'].join(' > '); });
    hls.loadSource(url);
    hls.attachMedia(v);
    v.addEventListener('playing', () => { window.__playing = true; });
    v.play();
    window.__hls = hls;
  };
</script></body></html>`;
}

const listen = (s: http.Server, p: number) => new Promise<void>((r) => s.listen(p, '127.0.0.1', () => r()));

test('hls.js moves off a slow origin on vstack steer\'s manifest alone', async ({ page }) => {
  test.skip(!!proxy, 'no dashboard involved: the direct pass covers it');
  test.setTimeout(120_000);
  expect(fs.existsSync(hlsJs), `${hlsJs} (setup copies it from npm)`).toBe(true);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vstack-steer-'));
  const made = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=640x360:rate=25', '-t', '180',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '800k', '-g', '50', '-keyint_min', '50',
    '-sc_threshold', '0', '-f', 'hls', '-hls_time', String(SEGMENT_S), '-hls_playlist_type', 'vod',
    '-hls_segment_type', 'fmp4', '-hls_segment_filename', path.join(dir, 'seg%03d.m4s'),
    '-master_pl_name', 'master.m3u8', path.join(dir, 'index.m3u8'),
  ], { encoding: 'utf8' });
  expect(made.status, made.stderr).toBe(0);
  const a = origin(dir, 'a');
  const b = origin(dir, 'b');
  b.state.delayMs = 200;
  await listen(a.server, port + 1);
  await listen(b.server, port + 2);
  let steer: ChildProcess | null = null;
  try {
    steer = spawn(binary, ['steer', '--addr', `127.0.0.1:${port}`, '--ttl-s', String(TTL_S),
      '--probe-interval-s', String(PROBE_INTERVAL_S),
      '--pathway', `a=http://127.0.0.1:${port + 1}/master.m3u8`,
      '--pathway', `b=http://127.0.0.1:${port + 2}/master.m3u8`], { stdio: 'inherit' });
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status ?? 0,
      { timeout: 15_000 }).toBe(200);
    // Both origins probed before the player asks.
    await expect.poll(async () => {
      const r = await (await fetch(`http://127.0.0.1:${port}/pathways`)).json();
      return r.every((p: any) => p.probes >= 2);
    }, { timeout: 15_000 }).toBe(true);

    await page.goto(`http://127.0.0.1:${port + 1}/player.html`);
    await page.evaluate((u) => (window as any).start(u), `http://127.0.0.1:${port}/master.m3u8`);
    await expect.poll(() => page.evaluate(() => (window as any).__playing), { timeout: 20_000 }).toBe(true);
    await page.waitForTimeout(SLOW_AT_S * 1000);
    // The ranking put origin a first (b answers 200 ms later): the player
    // took every segment from a.
    expect(a.state.segments.length, 'origin a served the start').toBeGreaterThan(0);
    expect(b.state.segments.length, 'origin b served nothing yet').toBe(0);
    const slowAt = Date.now();
    a.state.delayMs = SLOW_MS;
    const target = MOVE_TARGET_MS;
    await expect.poll(() => b.state.segments.length, { timeout: target + 10_000, intervals: [250] }).toBeGreaterThan(0);
    const movedMs = b.state.segments[0].at - slowAt;
    console.log(`moved from origin a to b ${(movedMs / 1000).toFixed(1)} s after a slowed (target ${target / 1000} s); priority now ${await page.evaluate(() => (window as any).__priority)}`);
    expect(movedMs, 'time to move off the slow origin').toBeLessThanOrEqual(target);
    const t0 = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
    await page.waitForTimeout(3000);
    const t1 = await page.evaluate(() => (document.getElementById('v') as HTMLVideoElement).currentTime);
    expect(t1, 'still playing').toBeGreaterThan(t0 + 1);
  } finally {
    steer?.kill('SIGTERM');
    a.server.close();
    b.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
