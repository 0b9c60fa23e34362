// The Watch tab's figures as the <video> elements report them, shared by
// watch.spec.ts and watch-table.spec.ts: the elements' own `waiting`,
// `playing` and `ended` events (page time, ms), and startup and stalls
// read from them.
import type { Page } from '@playwright/test';

export type Kind = 'smart' | 'naive';

/** Startup (press → first `playing`, ms), and stalls after the first
 * frame (`waiting` → `playing`; one still running counts up to now). */
export interface ElementStalls { startup_ms: number | null; stalls: number; stall_ms: number }

/** Starts recording both elements' events on the open Watch page. */
export async function recordEvents(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any;
    w.__events = [];
    for (const kind of ['smart', 'naive']) {
      const v = document.querySelector(`[data-testid=watch-video-${kind}]`) as HTMLVideoElement;
      for (const name of ['waiting', 'playing', 'ended']) {
        v.addEventListener(name, () => w.__events.push({ kind, name, at: performance.now() }));
      }
    }
  });
}

/** `kind`'s startup and stalls from the recorded events, play pressed at
 * page time `pressed`. */
export async function elementStalls(page: Page, kind: Kind, pressed: number): Promise<ElementStalls> {
  const { events, now } = await page.evaluate(() => ({ events: (window as any).__events, now: performance.now() }));
  return stallsOf((events as { kind: string; name: string; at: number }[]).filter((e) => e.kind === kind), pressed, now);
}

/** Startup and stalls from one element's `waiting`/`playing` events (page
 * time, ms, in order), play pressed at `pressed`, read at `now`. */
export function stallsOf(events: { name: string; at: number }[], pressed: number, now: number): ElementStalls {
  let first: number | null = null;
  let since: number | null = null;
  let stalls = 0;
  let stall_ms = 0;
  for (const e of events) {
    if (first === null) {
      if (e.name === 'playing') first = e.at;
      continue;
    }
    if (e.name === 'waiting' && since === null) { since = e.at; stalls += 1; }
    if (e.name === 'playing' && since !== null) { stall_ms += e.at - since; since = null; }
  }
  if (since !== null) stall_ms += now - since;
  return { startup_ms: first === null ? null : first - pressed, stalls, stall_ms };
}
