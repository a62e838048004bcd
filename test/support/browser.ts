import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { defaultDashboardDir } from '../../src/dashboard/index.js';
import { startTestFacteur, type TestFacteur } from './facteur.js';
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

/** The window every dashboard test uses (a laptop; phone checks set their own). */
export const DESKTOP = { width: 1280, height: 900 } as const;

/**
 * How far the page is wider than the window (evaluated in the page; > 0 means sideways
 * scrolling on a phone).
 */
export const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';

/** A new page whose console errors and page errors are collected into `problems`. */
export async function watchedPage(context: BrowserContext, problems: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return page;
}

/** Signs in with a password from the login screen and waits for the overview. */
export async function signInWithPassword(
  page: Page,
  origin: string,
  email: string,
  password: string,
): Promise<void> {
  await page.goto(`${origin}/`);
  const form = page.locator('form', { has: page.getByLabel('Password') });
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

/** Everything a dashboard test file needs: a Facteur, its dashboard, Chromium and one watched page. */
export interface DashboardSession {
  t: TestFacteur;
  origin: DashboardOrigin;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console and page errors seen so far (a CSP violation shows up here). */
  problems: string[];
  /** `problems` without the ones matching `expected` (e.g. the 401 of `/auth/session` signed out). */
  unexpected(expected: RegExp): string[];
  /** A further watched page in a context of its own (another person), closed with the session. */
  otherPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Starts Facteur (on `facteur`'s configuration), opens its dashboard in Chromium in English
 * with a laptop's window, and, when `admin` is given, creates that admin and signs them in.
 */
export async function openDashboard(
  options: {
    facteur?: Parameters<typeof startTestFacteur>[0];
    start?: Parameters<typeof startTestFacteur>[1];
    admin?: { email: string; name: string; password: string };
  } = {},
): Promise<DashboardSession> {
  const t = await startTestFacteur(options.facteur ?? {}, options.start);
  const origin = await dashboardOrigin(t.url);
  const problems: string[] = [];
  const browser = await launchChromium();
  const contexts: BrowserContext[] = [];
  const newContext = async () => {
    const context = await browser.newContext({ locale: 'en-GB', viewport: DESKTOP });
    // Fail fast: every step takes well under a second.
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    return context;
  };
  const context = await newContext();
  const page = await watchedPage(context, problems);
  if (options.admin) {
    await t.facteur.accounts.createUser({ ...options.admin, role: 'admin' }, { kind: 'system' });
    await signInWithPassword(page, origin.url, options.admin.email, options.admin.password);
  }
  return {
    t,
    origin,
    browser,
    context,
    page,
    problems,
    unexpected: (expected) => problems.filter((p) => !expected.test(p)),
    otherPage: async () => watchedPage(await newContext(), problems),
    close: async () => {
      await browser.close();
      await origin.close();
      await t.close();
    },
  };
}
