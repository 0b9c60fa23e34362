// Starts and stops the real `vstack` server for a test, on its own port, and
// (with VSTACK_E2E_PROXY=caddy) Debian's Caddy in front of it with the repo's
// deploy/caddy/Caddyfile and a self-signed certificate, so the whole suite
// runs through a TLS reverse proxy, WebSocket included.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

/** The built binary (cargo leptos build); override with VSTACK_BIN. */
export const binary = process.env.VSTACK_BIN ?? path.join(root, 'target', 'debug', 'vstack');
/** The built site (pkg/, vendor/); override with VSTACK_SITE_ROOT; empty
 * serves the site embedded in the binary (the one-file deploy). */
export const siteRoot = process.env.VSTACK_SITE_ROOT ?? path.join(root, 'target', 'site');
/** `caddy` runs the suite through the reverse proxy. */
export const proxy = process.env.VSTACK_E2E_PROXY ?? '';
// The tests' own fetches (readiness, REST) go through the proxy's
// self-signed certificate too.
if (proxy) process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

/** The admin token of the proxy pass. Through a reverse proxy on the same
 * host a local-mode dashboard is read-only (every request arrives relayed,
 * from loopback), so that pass runs public mode, as `deploy/` does, and the
 * browser carries this token (playwright.config.ts). */
export const proxyAdminToken = 'e2e-proxy-admin-token-0123456789abcdef';

/** Where the e2e server reads `vstack compare` results from. */
export const compareResults = path.join(root, 'target', 'e2e-compare.json');

/** The environment of a vstack process: the test's own VSTACK_SITE_ROOT
 * setting is not the server's. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' };
  delete env.VSTACK_SITE_ROOT;
  return env;
}

/** Runs a short live `vstack compare` that saves to {@link compareResults}
 * (and, with `extra`, e.g. `--data-dir DIR`, keeps the run there too).
 * Returns what it printed on stderr. */
export function runCompare(extra: string[] = []): string {
  const r = spawnSync(binary, [
    'compare', '--sessions', '1', '--video-duration-s', '20', '--speed', '20',
    '--scenarios', 'normal', '--output', compareResults, ...extra,
  ], { cwd: root, env: serverEnv(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vstack compare failed: ${r.stderr}`);
  return r.stderr;
}

/** A self-signed certificate for localhost (made once, under target/). */
function certificate(): { cert: string; key: string } {
  const dir = path.join(root, 'target', 'e2e-proxy');
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'localhost.pem');
  const key = path.join(dir, 'localhost.key');
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    const r = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', key, '-out', cert,
    ], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  }
  return { cert, key };
}

async function waitFor(url: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer ${url} within 20 s`);
}

async function kill(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

export class VstackServer {
  private child: ChildProcess | null = null;
  private caddy: ChildProcess | null = null;
  /** `port` is vstack's; Caddy (when on) listens on `port + 1000`. `extra`
   * are more `vstack serve` flags (e.g. public mode). */
  constructor(readonly port: number, readonly extra: string[] = []) {}

  /** The server's data directory (its history database lives there). */
  get dataDir(): string {
    return path.join(root, 'target', `e2e-data-${this.port}`);
  }

  /** Where vstack itself listens. */
  get direct(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What the browser opens: vstack, or Caddy in front of it. */
  get url(): string {
    return proxy === 'caddy' ? `https://localhost:${this.port + 1000}` : this.direct;
  }

  async start(): Promise<void> {
    // The engine runs at 4x speed on a 2-minute video so sessions finish
    // within a test; its data directory is reused across restarts.
    const args = [
      '--addr', `127.0.0.1:${this.port}`,
      ...(siteRoot ? ['--site-root', siteRoot] : []),
      // `extra` may set its own speed (the Watch table runs at real time).
      ...(this.extra.includes('--speed') ? [] : ['--speed', '4']),
      '--video-duration-s', '120', '--metrics-interval-ms', '1000',
      '--data-dir', this.dataDir,
      '--compare-results', compareResults,
      // Its own Prometheus listener on a free port: several servers run at once.
      '--metrics-addr', '127.0.0.1:0',
      ...this.extra,
      ...(proxy && !this.extra.includes('--public')
        ? ['--public', '--admin-token', proxyAdminToken]
        : []),
    ];
    const env = serverEnv();
    const child = spawn(binary, args, {
      // Another folder than the repository: a one-file binary must not need it.
      cwd: siteRoot ? root : path.join(root, 'target'),
      stdio: ['ignore', 'inherit', 'inherit'],
      env,
    });
    this.child = child;
    await waitFor(`${this.direct}/healthz`, child, 'vstack');
    if (proxy === 'caddy' && !this.caddy) await this.startCaddy();
  }

  private async startCaddy(): Promise<void> {
    const { cert, key } = certificate();
    const home = path.join(root, 'target', 'e2e-proxy');
    const caddy = spawn('caddy', ['run', '--config', path.join(root, 'deploy', 'caddy', 'Caddyfile'), '--adapter', 'caddyfile'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: {
        ...process.env,
        HOME: home,
        XDG_DATA_HOME: home,
        XDG_CONFIG_HOME: home,
        VSTACK_SITE: this.url,
        VSTACK_UPSTREAM: `127.0.0.1:${this.port}`,
        VSTACK_CADDY_TLS: `tls ${cert} ${key}`,
        VSTACK_CADDY_GLOBAL: 'auto_https disable_redirects\n\tlog {\n\t\tlevel ERROR\n\t}',
      },
    });
    this.caddy = caddy;
    await waitFor(`${this.url}/healthz`, caddy, 'caddy');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    await kill(child);
  }

  /** Stops vstack and the proxy. */
  async stopAll(): Promise<void> {
    await this.stop();
    const caddy = this.caddy;
    this.caddy = null;
    await kill(caddy);
  }
}
