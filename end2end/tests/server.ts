// Starts and stops the real `vstack` server for a test, on its own port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

/** The built binary (cargo leptos build); override with VSTACK_BIN. */
export const binary = process.env.VSTACK_BIN ?? path.join(root, 'target', 'debug', 'vstack');
/** The built site (pkg/, vendor/); override with VSTACK_SITE_ROOT. */
export const siteRoot = process.env.VSTACK_SITE_ROOT ?? path.join(root, 'target', 'site');

/** Where the e2e server reads `vstack compare` results from. */
export const compareResults = path.join(root, 'target', 'e2e-compare.json');

/** Runs a short live `vstack compare` that saves to {@link compareResults}. */
export function runCompare(): void {
  const r = spawnSync(binary, [
    'compare', '--sessions', '1', '--video-duration-s', '20', '--speed', '20',
    '--scenarios', 'normal', '--output', compareResults,
  ], { cwd: root, env: { ...process.env, RUST_LOG: 'warn' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vstack compare failed: ${r.stderr}`);
}

export class VstackServer {
  private child: ChildProcess | null = null;
  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // The engine runs at 4x speed on a 2-minute video so sessions finish
    // within a test; its data directory is reused across restarts.
    const args = [
      '--addr', `127.0.0.1:${this.port}`, '--site-root', siteRoot,
      '--speed', '4', '--video-duration-s', '120', '--metrics-interval-ms', '1000',
      '--data-dir', path.join(root, 'target', 'e2e-data'),
      '--compare-results', compareResults,
    ];
    const child = spawn(binary, args, {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`vstack exited with ${child.exitCode}`);
      try {
        const r = await fetch(`${this.url}/healthz`);
        if (r.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`vstack did not answer /healthz on ${this.url} within 20 s`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
