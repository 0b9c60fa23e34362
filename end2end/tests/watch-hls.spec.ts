// hls.js, the player most sites ship, on the Watch tab in real Chromium:
// it plays the server's HLS rendition of the video from the same nodes, on
// links of its own. Every figure is the <video> element's own or hls.js's
// own events (which node served each segment), never a model.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';
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

/** Records the hls.js element's waiting/playing events, chooses `origin`
 * and presses Play hls.js. */
async function playHls(page: Page, origin: string): Promise<void> {
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
    // lost and retried with its default back-off, 1 + 2 + 4 + 8 + 8 + 8 s
    // over six retries): reported, not judged (measured: none direct;
    // through Caddy one short stall, once one over 2 s, and once none of
    // the video played for 30 s after it had left the node). A failure
    // names hls.js's errors as the page shows them.
    const at = await position(page);
    try {
      await expect.poll(async () => (await position(page)) - at, { timeout: 60_000 }).toBeGreaterThan(8);
    } catch (e) {
      throw new Error(`hls.js did not play on: ${await figures(page).innerText()} (${String(e)})`);
    }
    console.log(`hls.js with steering: off node ${on} in ${movedS.toFixed(1)} s, ${await stalls(page)} stalls`);
    await expect(page.getByTestId('watch-hls-steering')).toContainText(new RegExp(`node-${on + 1} \\(`));
  } finally {
    await control(page, { action: 'revive_node', node: on });
    await page.getByTestId('watch-hls-stop').click().catch(() => {});
  }
});
