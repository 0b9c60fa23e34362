// The Redundancy tab against the real engine: a node failed for good from
// the controls is declared lost after the grace period, its chunks are
// repaired onto the other nodes (the replica map and the event feed show it),
// it comes back and its excess copies are trimmed, and a video made hot gains
// replicas. Screenshots of each stage land in end2end/artifacts/.
import { test, expect, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VstackServer } from './server';

const port = Number(process.env.VSTACK_E2E_REDUNDANCY_PORT ?? 18892);
const artifacts = path.resolve(__dirname, '..', 'artifacts');
// A 3 s grace so the loss is declared within the test; a 60 s video keeps
// the replica map readable.
const server = new VstackServer(port, ['--grace-s', '3', '--repair-cap-mbps', '200']);

test.beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  await server.start();
});
test.afterAll(async () => server.stopAll());

/** Waits up to 20 s for the replica map. The map has been absent after
 * 10 s now and then in CI's first pass (twice on this tab, never in a
 * dozen local runs); on failure this says what the tab showed and what the
 * page logged, so the next occurrence tells hydration from a late report. */
async function replicaMap(page: Page, errors: () => string[]) {
  const map = page.getByTestId('replica-map');
  try {
    await expect(map).toBeVisible({ timeout: 20_000 });
  } catch (e) {
    const shown = await page.locator('main').innerText().catch(() => '(no main)');
    throw new Error(`${e}\nthe tab showed: ${shown.slice(0, 400)}\npage errors: ${JSON.stringify(errors())}`);
  }
  return map;
}

async function number(page: Page, testid: string): Promise<number> {
  return Number((await page.getByTestId(testid).innerText()).split(' ')[0]);
}

test('the Redundancy tab follows a node failed for good, its repair, its return and a hot video', async ({ page }) => {
  test.setTimeout(120_000);
  const errors: string[] = [];
  const logged: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') logged.push(m.text()); });
  await page.goto(server.url + '/redundancy');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await expect(page.getByRole('link', { name: 'Redundancy', exact: true })).toHaveAttribute('aria-current', 'page');
  const map = await replicaMap(page, () => [...errors, ...logged]);
  // Three node rows of live cells; the first chunk (startup) goes to every node.
  await expect(map.locator('.rm-node[data-status="live"]')).toHaveCount(3);
  await expect.poll(() => number(page, 'rd-under'), { timeout: 20_000 }).toBe(0);
  for (const id of ['chart-under', 'chart-repair', 'chart-popularity']) {
    await expect(page.locator(`#${id} canvas`).first()).toBeVisible();
  }
  await page.screenshot({ path: path.join(artifacts, 'redundancy.png'), fullPage: true });

  // Fail node-3 for good: lost after the grace period, then repaired.
  await page.getByTestId('fail-node-2').click();
  await expect(page.getByTestId('redundancy-events')).toContainText('node-3 lost', { timeout: 20_000 });
  await expect(map.locator('.rm-node[data-status="lost"]')).toHaveCount(1);
  await page.screenshot({ path: path.join(artifacts, 'redundancy-node-lost.png'), fullPage: true });
  await expect(page.getByTestId('redundancy-events')).toContainText(/repaired in [\d.]+ s, [\d.]+ MB moved/, { timeout: 30_000 });
  await expect.poll(() => number(page, 'rd-under'), { timeout: 10_000 }).toBe(0);
  await expect(page.getByTestId('rd-bytes')).not.toHaveText('0 B');
  await expect(page.getByTestId('rd-since-loss')).not.toHaveText('never');
  await expect(map.locator('.rm-target.short')).toHaveCount(0);
  await page.screenshot({ path: path.join(artifacts, 'redundancy-repaired.png'), fullPage: true });

  // Bring it back: its old copies are excess and get trimmed.
  await page.getByTestId('back-node-2').click();
  await expect(page.getByTestId('redundancy-events')).toContainText('node-3 back', { timeout: 20_000 });
  await expect(map.locator('.rm-node[data-status="live"]')).toHaveCount(3, { timeout: 10_000 });
  await expect.poll(async () => (await page.getByTestId('rd-copies').innerText()).split('·')[1]?.trim(), { timeout: 20_000 })
    .not.toBe('0');
  await expect.poll(() => number(page, 'rd-over'), { timeout: 20_000 }).toBe(0);

  // Make the video hot: extra clients' GETs raise popularity and replicas.
  await page.getByTestId('hot-clients').fill('8');
  await page.getByTestId('make-hot').click();
  await expect(page.getByTestId('hot-population')).toContainText('8 extra smart clients per cluster');
  await expect(page.getByTestId('redundancy-events')).toContainText(/chunks hot → more replicas/, { timeout: 30_000 });
  await page.screenshot({ path: path.join(artifacts, 'redundancy-hot.png'), fullPage: true });
  await page.getByTestId('cool-down').click();
  await expect(page.getByTestId('hot-population')).toContainText('No hot population running');
  expect(errors).toEqual([]);
});

test('the Redundancy tab holds on a phone-sized screen and in dark mode', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(server.url + '/redundancy');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
  await replicaMap(page, () => errors);
  // The map scrolls inside its card; the page itself does not overflow.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: path.join(artifacts, 'redundancy-phone-dark.png'), fullPage: true });
  await page.close();
});
