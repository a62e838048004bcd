import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardOrigin,
  type DashboardSession,
  OVERFLOW,
  openDashboard,
  screenshot,
  watchedPage,
} from '../support/browser.js';
import type { TestFacteur } from '../support/facteur.js';

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a real
 * Facteur on SQLite: serving and headers, the language switch, the first admin's setup, sign-in
 * by password and by emailed link (read from the catcher), and the overview (its activity
 * charts included) and mail screens with real data. Each screen is kept as a screenshot under
 * test-artifacts/screenshots/.
 */

const skip = browserSkipReason();
const ADMIN = { email: 'admin@example.com', name: 'Ada Admin', password: 'correct horse battery staple' };
const SUBJECT = 'Dashboard test message';

describe.skipIf(skip)(`the dashboard in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: DashboardSession;
  let t: TestFacteur;
  let origin: DashboardOrigin;
  let browser: Browser;
  let page: Page;
  const logLines: string[] = [];
  let hasAuth = false;

  beforeAll(async () => {
    // No admin: the first one is created from the setup link printed in the log, below.
    session = await openDashboard({ start: { logLines } });
    ({ t, origin, browser, page } = session);
    hasAuth = (await fetch(`${t.url}/auth/session`)).status !== 404;
    const sent = await t.request<{ id: string }>('POST', '/api/messages', {
      body: {
        to: ['bob@example.com'],
        subject: SUBJECT,
        html: '<p style="color:#1d4ed8">Hello <strong>from the catcher</strong></p>',
        text: 'Hello from the catcher',
      },
    });
    expect(sent.status).toBe(202);
    await waitFor(async () => {
      const message = await t.request<{ status: string }>('GET', `/api/messages/${sent.body.id}`);
      return message.body.status === 'sent';
    });
  });
  afterAll(async () => {
    await session?.close();
  });

  /** Console errors other than the expected 401 of `/auth/session` while signed out. */
  const unexpectedProblems = () => session.unexpected(/status of 401|status of 404|Unauthorized/);

  it('serves index.html and hashed assets with the strict CSP and no inline code', async () => {
    const home = await fetch(`${origin.url}/`);
    expect(home.status).toBe(200);
    const csp = home.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(home.headers.get('x-frame-options')).toBe('DENY');
    expect(home.headers.get('referrer-policy')).toBe('no-referrer');
    expect(home.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await home.text();
    expect(html).not.toMatch(/<script>|<style>| style=/);
    const script = /src="(\/assets\/main-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${origin.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    await asset.body?.cancel();
  });

  it('shows the sign-in screen in English, switches to French, and keeps the choice', async () => {
    await page.goto(`${origin.url}/`);
    await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
    await screenshot(page, 'login-en');
    await page.getByRole('button', { name: 'Français' }).click();
    await page.getByRole('heading', { name: 'Connexion à Facteur' }).waitFor();
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    await page.reload();
    await page.getByRole('heading', { name: 'Connexion à Facteur' }).waitFor();
    await screenshot(page, 'login-fr');
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
    expect(await page.getAttribute('html', 'lang')).toBe('en');
  });

  it("starts in French for a French browser, and fits a phone's width", async () => {
    const phone = await browser.newContext({ locale: 'fr-FR', viewport: { width: 360, height: 740 } });
    try {
      const p = await watchedPage(phone, session.problems);
      await p.goto(`${origin.url}/`);
      await p.getByRole('heading', { name: 'Connexion à Facteur' }).waitFor();
      expect(await p.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      // Keyboard: the skip link comes first, then the brand.
      await p.keyboard.press('Tab');
      expect(await p.evaluate('document.activeElement?.textContent')).toBe('Aller au contenu');
      await screenshot(p, 'login-phone-fr');
    } finally {
      await phone.close();
    }
    expect(unexpectedProblems()).toEqual([]);
  });

  describe('signed in', () => {
    const needsAuth = () => {
      if (!hasAuth) console.warn('[skip] the /auth routes are not registered: sign-in tests not run');
      return !hasAuth;
    };

    it('creates the first admin from the setup link printed in the log', async ({ skip }) => {
      if (needsAuth()) skip();
      const link = logLines.map((line) => /#\/setup\?token=([A-Za-z0-9_-]+)/.exec(line)?.[1]).find(Boolean);
      expect(link, 'the setup link in the log').toBeDefined();
      await page.goto(`${origin.url}/#/setup?token=${link}`);
      await page.getByRole('heading', { name: 'Create the first administrator' }).waitFor();
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Name').fill(ADMIN.name);
      await page.getByLabel('Password').fill(ADMIN.password);
      await screenshot(page, 'setup');
      await page.getByRole('button', { name: 'Create and sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
    });

    it('shows the overview with every dependency, the jobs and recent failures', async ({ skip }) => {
      if (needsAuth()) skip();
      await page.goto(`${origin.url}/#/`);
      const checks = page.getByTestId('checks');
      await checks.getByRole('rowheader', { name: /database/ }).waitFor();
      await checks.getByRole('rowheader', { name: /transport:catcher/ }).waitFor();
      await page.getByTestId('jobs').waitFor();
      await expect(page.getByText(/Status: (ok|degraded)/).count()).resolves.toBe(1);
      // The activity charts count the message sent before the tests, from the database.
      const throughput = page.getByTestId('throughput-summary');
      await throughput.getByText(/^Last hour: 1 sent, 0 failed;/).waitFor();
      await page
        .getByTestId('latency-summary')
        .getByText(/^Last hour, worst p95: mail ≤ [\d.]+ (ms|s)/)
        .waitFor();
      expect(await page.getByTestId('chart-throughput').locator('canvas').count()).toBe(1);
      expect(await page.getByTestId('chart-latency').locator('canvas').count()).toBe(1);
      // The text alternative: the bucket of the send, in a table behind a disclosure.
      await page.getByTestId('chart-throughput').getByText('Values per period').click();
      const rows = page.getByTestId('throughput-table').locator('tbody tr');
      expect(await rows.count()).toBe(1);
      expect(await rows.first().locator('td').first().textContent()).toBe('1');
      // Each dependency's latency percentiles as /readyz reports them, with its breaker.
      const latency = page.getByTestId('dependency-latency');
      await latency.getByRole('rowheader', { name: 'database' }).waitFor();
      const catcherRow = latency.getByRole('row', { name: /transport:catcher/ });
      if ((await catcherRow.count()) > 0) await catcherRow.getByText('closed').waitFor();
      await screenshot(page, 'overview');
      // The 24 h switch asks for the day's series.
      const day = page.getByRole('button', { name: '24 h' });
      await day.click();
      await throughput.getByText(/^Last 24 hours: 1 sent, 0 failed;/).waitFor();
      expect(await day.getAttribute('aria-pressed')).toBe('true');
      await screenshot(page, 'overview-24h');
      await page.getByRole('button', { name: '1 h' }).click();
      await throughput.getByText(/^Last hour:/).waitFor();
      // uPlot draws under the strict CSP: no violation, no error in the console.
      expect(unexpectedProblems()).toEqual([]);
      await page.setViewportSize({ width: 360, height: 740 });
      try {
        // Wide tables scroll inside their box; the page itself never scrolls sideways.
        expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
        // The charts follow their box's width.
        const canvas = await page.getByTestId('chart-throughput').locator('canvas').boundingBox();
        expect(canvas?.width ?? 0).toBeGreaterThan(0);
        expect(canvas?.width ?? 999).toBeLessThanOrEqual(360);
        await screenshot(page, 'overview-phone');
      } finally {
        await page.setViewportSize({ width: 1280, height: 900 });
      }
    });

    it('lists messages with a status filter, and shows one with its attempts', async ({ skip }) => {
      if (needsAuth()) skip();
      // By keyboard: the navigation is made of real links.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Mail' }).focus();
      await page.keyboard.press('Enter');
      await page.getByTestId('messages').getByRole('link', { name: SUBJECT }).waitFor();
      await page.getByLabel('Status').selectOption('failed');
      await page.getByText('Nothing yet.').waitFor();
      await page.getByLabel('Status').selectOption('sent');
      await page.getByTestId('messages').getByRole('link', { name: SUBJECT }).waitFor();
      // Search: a substring of the subject in another case finds it; the status filter stays.
      const search = page.getByRole('search');
      await search.getByLabel('Search').fill('no such subject');
      await search.getByRole('button', { name: 'Search' }).click();
      await page.getByText('No message matches “no such subject”.').waitFor();
      await search.getByLabel('Search').fill('DASHBOARD test');
      await search.getByRole('button', { name: 'Search' }).click();
      await page.getByTestId('messages').getByRole('link', { name: SUBJECT }).waitFor();
      expect(page.url()).toContain('status=sent');
      expect(page.url()).toContain('q=DASHBOARD');
      await screenshot(page, 'mail');
      await page.getByRole('link', { name: SUBJECT }).click();
      await page
        .getByTestId('attempts')
        .getByText(/\b250\b/)
        .first()
        .waitFor();
      await screenshot(page, 'mail-message');
    });

    it("shows the catcher's inbox and a message's HTML in a sandboxed frame", async ({ skip }) => {
      if (needsAuth()) skip();
      await page.goto(`${origin.url}/#/mail/catcher`);
      await page.getByTestId('caught').getByRole('link', { name: SUBJECT }).click();
      const frame = page.locator('iframe.rendered');
      expect(await frame.getAttribute('sandbox')).toBe('');
      await page.frameLocator('iframe.rendered').getByText('from the catcher').waitFor();
      await screenshot(page, 'catcher-message');
      // The frame's document carries its own CSP: its inline styles, nothing else, sandboxed.
      const id = /#\/mail\/catcher\/([^/?]+)/.exec(page.url())?.[1];
      const html = await t.request<string>('GET', `/api/catcher/messages/${id}/html`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(html.headers.get('content-security-policy')).toMatch(
        /default-src 'none'; style-src 'unsafe-inline'.*sandbox/,
      );
      expect(html.body).toContain('<strong>from the catcher</strong>');
      expect(unexpectedProblems()).toEqual([]);
    });

    it('signs out, refuses a wrong password, and signs in with the right one', async ({ skip }) => {
      if (needsAuth()) skip();
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
      const form = page.locator('form', { has: page.getByLabel('Password') });
      await form.getByLabel('Email').fill(ADMIN.email);
      await form.getByLabel('Password').fill('wrong password');
      await form.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').getByText('Wrong email or password.').waitFor();
      await screenshot(page, 'login-wrong-password');
      await form.getByLabel('Password').fill(ADMIN.password);
      await form.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.getByText(`Signed in as ${ADMIN.email}`).waitFor();
    });

    it('signs in with a link emailed through the catcher', async ({ skip }) => {
      if (needsAuth()) skip();
      await page.getByRole('button', { name: 'Sign out everywhere' }).click();
      await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
      await page.getByLabel('Email', { exact: true }).nth(1).fill(ADMIN.email);
      await page.getByRole('button', { name: 'Email me a sign-in link' }).click();
      await page
        .getByRole('status')
        .getByText(/a sign-in link is on its way/)
        .waitFor();
      let path: string | undefined;
      await waitFor(async () => {
        path = await magicLinkPath(t, ADMIN.email);
        return path !== undefined;
      });
      await page.goto(`${origin.url}${path}`);
      await page.getByRole('button', { name: /Sign in/ }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.getByText(`Signed in as ${ADMIN.email}`).waitFor();
      // The link works once.
      await page.goto(`${origin.url}${path}`);
      await page.getByText(/used already/).waitFor();
    });

    it('says how long to wait when sign-in is locked after repeated failures', async ({ skip }) => {
      if (needsAuth()) skip();
      await page.goto(`${origin.url}/`);
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
      // Failures from this address lock it (last test: the admin cannot sign in from here after).
      let locked = false;
      for (let i = 0; i < 20 && !locked; i++) {
        const answer = await fetch(`${t.url}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ email: 'nobody@example.com', password: `wrong ${i}` }),
        });
        locked = answer.status === 429;
      }
      expect(locked).toBe(true);
      const form = page.locator('form', { has: page.getByLabel('Password') });
      await form.getByLabel('Email').fill(ADMIN.email);
      await form.getByLabel('Password').fill(ADMIN.password);
      await form.getByRole('button', { name: 'Sign in' }).click();
      await page
        .getByRole('alert')
        .getByText(/Too many failed attempts\. Try again in \d+ (min|s)\./)
        .waitFor();
      await screenshot(page, 'login-locked');
    });
  });
});

/** The path of the newest sign-in link mailed to `email`, read from the catcher. */
async function magicLinkPath(t: TestFacteur, email: string): Promise<string | undefined> {
  const list = await t.request<{ messages: Array<{ id: string; to: string[] }> }>(
    'GET',
    '/api/catcher/messages?limit=20',
  );
  for (const caught of list.body.messages.filter((m) => m.to.includes(email))) {
    const full = await t.request<{ raw: string }>('GET', `/api/catcher/messages/${caught.id}`);
    // Quoted-printable may fold a long line (`=` at its end) and write `=` as `=3D`.
    const raw = full.body.raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
    const path = /https?:\/\/[^/\s"]+(\/auth\/magic\/[A-Za-z0-9_-]+)/.exec(raw)?.[1];
    if (path) return path;
  }
  return undefined;
}

/** Polls `check` every 50 ms until it holds, at most 10 s. */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
