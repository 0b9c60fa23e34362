// hls.js, the player most sites ship, on the Watch tab in real Chromium:
// it plays the server's HLS rendition of the video from the same nodes, on
// links of its own. Every figure is the <video> element's own or hls.js's
// own events (which node served each segment), never a model.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer, proxy } from './server';
import { stallsOf } from './watch-events';

const port = Number(process.env.VSTACK_E2E_WATCH_HLS_PORT ?? 18899);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const server = new VstackServer(port, []);

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

async function control(page: Page, body: object) {
  const r = await page.request.post(server.url + '/api/fn/control', { data: { control: body } });
  expect(r.status(), await r.text()).toBe(200);
}

/** Records the hls.js element's waiting/playing events and every segment
 * response hls.js's XHR loader receives (bytes against its Content-Length),
 * chooses `origin` and presses Play hls.js. */
async function playHls(page: Page, origin: string): Promise<void> {
  await page.addInitScript(() => {
    const w = window as any;
    w.__segments = [];
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (this: XMLHttpRequest, ...args: any[]) {
      this.addEventListener('load', () => {
        if (!this.responseURL.includes('/segments/')) return;
        const bytes = this.response instanceof ArrayBuffer ? this.response.byteLength : -1;
        w.__segments.push({ url: this.responseURL, status: this.status, bytes, length: Number(this.getResponseHeader('content-length') ?? -1) });
      });
      return send.apply(this, args as any);
    };
  });
  await page.goto(server.url + '/watch');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await page.evaluate(() => {
    const w = window as any;
    w.__hlsEvents = [];
    const v = document.querySelector('[data-testid=watch-video-hls]') as HTMLVideoElement;
    for (const name of ['waiting', 'playing']) v.addEventListener(name, () => w.__hlsEvents.push({ name, at: performance.now() }));
  });
  await page.getByTestId('watch-hls-origin').selectOption(origin);
  await page.getByTestId('watch-hls-play').click();
}

/** Segment responses hls.js took as loaded (status 200) with fewer bytes
 * than their Content-Length. */
async function truncatedLoads(page: Page): Promise<{ url: string; bytes: number; length: number }[]> {
  const all: { url: string; status: number; bytes: number; length: number }[] = await page.evaluate(() => (window as any).__segments);
  return all.filter((r) => r.status === 200 && r.length > 0 && r.bytes < r.length);
}

async function position(page: Page): Promise<number> {
  return page.evaluate(() => (document.querySelector('[data-testid=watch-video-hls]') as HTMLVideoElement).currentTime);
}

/** Stalls after the first frame, from the element's events. */
async function stalls(page: Page): Promise<number> {
  const { events, now } = await page.evaluate(() => ({ events: (window as any).__hlsEvents, now: performance.now() }));
  return stallsOf(events, 0, now).stalls;
}

const figures = (page: Page) => page.getByTestId('watch-hls-figures');

test('hls.js plays from one node alone: every segment from that node', async ({ page }) => {
  test.setTimeout(90_000);
  await playHls(page, '1');
  await expect.poll(() => position(page), { timeout: 30_000 }).toBeGreaterThan(4);
  await expect(figures(page)).toHaveAttribute('data-startup-ms', /^\d+$/);
  await expect(page.getByTestId('watch-hls-served')).toContainText('node-2');
  await expect(page.getByTestId('watch-hls-served')).not.toContainText('node-1');
  await expect(page.getByTestId('watch-hls-served')).not.toContainText('node-3');
  await expect(page.getByTestId('watch-hls-level')).toContainText('kbit/s');
  await page.screenshot({ path: path.join(artifacts, 'watch-hls.png'), fullPage: true });
  await page.getByTestId('watch-hls-stop').click();
});

test("hls.js with vstack's steering moves off a killed node within a TTL and a segment", async ({ page }) => {
  test.setTimeout(180_000);
  await playHls(page, 'steering');
  await expect.poll(() => position(page), { timeout: 30_000 }).toBeGreaterThan(2);
  await expect(page.getByTestId('watch-hls-steering')).toContainText("vstack's steering: node-", { timeout: 15_000 });
  const on = Number(await figures(page).getAttribute('data-last-node'));
  await control(page, { action: 'kill_node', node: on });
  const killedAt = Date.now();
  try {
    // TTL 5 s + one 10 s segment: the next segment comes from another node.
    await expect
      .poll(async () => figures(page).getAttribute('data-last-node'), { timeout: 30_000, intervals: [250] })
      .not.toBe(String(on));
    const movedS = (Date.now() - killedAt) / 1000;
    expect(movedS).toBeLessThan(15 + 2);
    // It plays on from the others: 8 s more of the video within 60 s. A
    // stall is hls.js's own (the segment in flight from the killed node is
    // lost and retried with its default back-off): reported, not judged.
    //
    // Through the reverse proxy the killed node's segment in flight can
    // reach hls.js cut short yet as a success: Caddy relays the upstream's
    // reset over HTTP/2 and Chromium's XHR fires `load`, status 200, with
    // fewer bytes than the Content-Length (measured: 1.1 of 6.2 MB; direct,
    // over HTTP/1.1, the same cut is an XHR error). hls.js appends it, the
    // SourceBuffer's parser is left inside the segment's `mdat`, the next
    // append fails ("Failed to prepare video sample for decode") and hls.js
    // reloads the media (one stall) or stops on a fatal bufferAppendError.
    // Measured through the proxy: one load cut short in each of 13 runs,
    // hls.js stopped in 2 of them (and in both CI runs that failed here);
    // direct, none in 3. vstack's own players verify every chunk's SHA-256
    // and refetch. So through the proxy the test accepts hls.js stopping
    // on that error, and only after such a truncated load, which it checks.
    const at = await position(page);
    const stopped = () => page.getByTestId('watch-hls-level').innerText().then((t) => t.includes('stopped:'));
    try {
      await expect
        .poll(async () => (await stopped()) || (await position(page)) - at > 8, { timeout: 60_000 })
        .toBe(true);
    } catch (e) {
      throw new Error(`hls.js did not play on: ${await figures(page).innerText()} · ${await page.getByTestId('watch-hls-level').innerText()} (${String(e)})`);
    }
    if (await stopped()) {
      const level = await page.getByTestId('watch-hls-level').innerText();
      const cut = await truncatedLoads(page);
      console.log(`hls.js stopped after leaving node ${on}: ${level}; truncated loads: ${JSON.stringify(cut)}`);
      expect(proxy, `hls.js stopped with no proxy between it and the nodes: ${level}`).not.toBe('');
      expect(level).toContain('bufferAppendError');
      expect(cut.length, 'a fatal append error with no truncated segment before it').toBeGreaterThan(0);
      expect(cut.some((c) => c.url.includes(`/watch/hls/${on}/segments/`)), JSON.stringify(cut)).toBe(true);
    }
    console.log(`hls.js with steering: off node ${on} in ${movedS.toFixed(1)} s, ${await stalls(page)} stalls, ${(await truncatedLoads(page)).length} segment loads cut short`);
    await expect(page.getByTestId('watch-hls-steering')).toContainText(new RegExp(`node-${on + 1} \\(`));
  } finally {
    await control(page, { action: 'revive_node', node: on });
    await page.getByTestId('watch-hls-stop').click().catch(() => {});
  }
});
