import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { defaultDashboardDir } from '../../src/dashboard/index.js';
import { type ServiceProbe, serviceSkipReason } from './services.js';

/**
 * Headless Chromium (Debian's `chromium`, driven by playwright-core) for the dashboard's tests,
 * and screenshots kept under `test-artifacts/screenshots/`.
 */

/** Debian's Chromium. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Where screenshots are kept (gitignored; CI keeps the folder as an artifact). */
export const SCREENSHOT_DIR = join(ROOT, 'test-artifacts', 'screenshots');

/** A skip reason when Chromium or the built dashboard is missing (a failure in CI). */
export function browserSkipReason(): string | false {
  const probe: ServiceProbe = !existsSync(CHROMIUM_PATH)
    ? { ok: false, reason: `${CHROMIUM_PATH} is missing (apt-get install chromium)` }
    : !existsSync(join(defaultDashboardDir(), 'index.html'))
      ? { ok: false, reason: 'the dashboard is not built (npm run build)' }
      : { ok: true };
  return serviceSkipReason('chromium', probe);
}

/** Starts Chromium without a sandbox (tests run as root), GPU or background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}

/** Saves a full-page screenshot as `test-artifacts/screenshots/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Where the browser opens the dashboard: Facteur itself, which serves it at `/`. */
export interface DashboardOrigin {
  url: string;
  close(): Promise<void>;
}

/** The dashboard's origin for a running Facteur at `target`; fails when `/` is not the dashboard. */
export async function dashboardOrigin(target: string): Promise<DashboardOrigin> {
  const home = await fetch(`${target}/`);
  await home.body?.cancel();
  if (home.status !== 200 || !home.headers.get('content-type')?.startsWith('text/html'))
    throw new Error(`${target}/ is not the dashboard (status ${home.status})`);
  return { url: target, close: async () => undefined };
}
