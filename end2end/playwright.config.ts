// Playwright drives Debian's Chromium (/usr/bin/chromium); it never downloads a
// browser of its own. The tests start the built `vstack` binary themselves
// (tests/server.ts) so they can stop and restart it.
import { defineConfig } from '@playwright/test';
import { proxyAdminToken } from './tests/server';

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    headless: true,
    // Through the reverse proxy (VSTACK_E2E_PROXY) the certificate is self-signed.
    ignoreHTTPSErrors: !!process.env.VSTACK_E2E_PROXY,
    // Through the proxy the server runs public mode (deploy/'s setup): the
    // browser is its admin. public.spec.ts drops this to be a viewer.
    extraHTTPHeaders: process.env.VSTACK_E2E_PROXY
      ? { Authorization: `Bearer ${proxyAdminToken}` }
      : undefined,
    viewport: { width: 1280, height: 860 },
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
