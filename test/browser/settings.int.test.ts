import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardOrigin,
  type DashboardSession,
  OVERFLOW,
  openDashboard,
  screenshot,
  signInWithPassword,
  watchedPage,
} from '../support/browser.js';
import type { TestFacteur } from '../support/facteur.js';
import { startHttpReceiver } from '../support/http-receiver.js';

/**
 * The Settings and Reports screens in Chromium against a real Facteur on SQLite: an admin adds
 * a viewer, changes their role, creates an API key (shown once) and finds both changes in the
 * audit log; the viewer sees My account only and changes their password; a push report made
 * through the API is previewed (rendered in a sandboxed frame), run from the browser stage by
 * stage, edited (the API's field problems shown under the fields), paused and resumed; reports
 * are created from the New report form (push, and http against a local receiver).
 */

const skip = browserSkipReason();
const ADMIN = { email: 'admin@example.com', name: 'Ada Admin', password: 'correct horse battery staple' };
const VIEWER = { email: 'vera@example.com', name: 'Vera Viewer', password: 'a viewer password' };

describe.skipIf(skip)(`settings and reports in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let session: DashboardSession;
  let t: TestFacteur;
  let origin: DashboardOrigin;
  let browser: Browser;
  let page: Page;
  let problems: string[] = [];
  let reportId = '';

  beforeAll(async () => {
    session = await openDashboard({ admin: ADMIN });
    ({ t, origin, browser, page, problems } = session);
    const created = await t.request<{ id: string }>('POST', '/api/reports', {
      body: {
        name: 'weekly-signups',
        description: 'Sign-ups pushed by the app',
        to: ['team@example.com'],
        subject: 'Inscriptions : {{ data.count }}',
        text: '{{ data.count }} inscriptions cette semaine',
        html: '<h1>{{ data.count }} inscriptions</h1>',
        data: { type: 'push' },
      },
    });
    expect(created.status).toBe(201);
    reportId = created.body.id;
  });
  afterAll(async () => {
    await session?.close();
  });

  /** Console errors other than the 401 of `/auth/session` while signed out and refused calls. */
  const unexpectedProblems = () => session.unexpected(/status of 40[0-9]|Unauthorized/);

  it('adds a viewer, shows them in the list, and changes their role', async () => {
    await page.goto(`${origin.url}/#/settings`);
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    const users = page.getByTestId('users');
    await users.getByRole('rowheader', { name: /Ada Admin/ }).waitFor();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Add a user' }) });
    // A taken email is refused, and the API's message shows.
    await form.getByLabel('Email').fill(ADMIN.email);
    await form.getByLabel('Name', { exact: true }).fill('Twin');
    await form.getByRole('button', { name: 'Add the user' }).click();
    await form.getByRole('alert').getByText('EMAIL_TAKEN').waitFor();
    await form.getByLabel('Email').fill(VIEWER.email);
    await form.getByLabel('Name', { exact: true }).fill(VIEWER.name);
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByLabel('Password (optional)').fill(VIEWER.password);
    await form.getByRole('button', { name: 'Add the user' }).click();
    await form.getByRole('status').getByText(`${VIEWER.email} was added.`).waitFor();
    const row = users.getByRole('row', { name: new RegExp(VIEWER.name) });
    await row.waitFor();
    await expect(row.getByLabel(`Role of ${VIEWER.email}`).inputValue()).resolves.toBe('viewer');
    await screenshot(page, 'settings-users');

    await row.getByLabel(`Role of ${VIEWER.email}`).selectOption('operator');
    await page.getByRole('status').getByText(`${VIEWER.email} was updated.`).waitFor();
    await expect.poll(() => roleOf(VIEWER.email)).toBe('operator');
    // The last admin cannot step down; the list shows the role they kept.
    const adminRole = users.getByRole('row', { name: /Ada Admin/ }).getByLabel(`Role of ${ADMIN.email}`);
    await adminRole.selectOption('viewer');
    await page.getByRole('alert').getByText('LAST_ADMIN').waitFor();
    await expect.poll(() => adminRole.inputValue()).toBe('admin');
    expect(await roleOf(ADMIN.email)).toBe('admin');
    // Back to viewer for the rest of the test.
    await row.getByLabel(`Role of ${VIEWER.email}`).selectOption('viewer');
    await expect.poll(() => roleOf(VIEWER.email)).toBe('viewer');
    await expect.poll(() => row.getByLabel(`Role of ${VIEWER.email}`).inputValue()).toBe('viewer');
  });

  async function roleOf(email: string): Promise<string | undefined> {
    const listed = await t.request<{ items: Array<{ email: string; role: string }> }>('GET', '/api/users');
    return listed.body.items.find((u) => u.email === email)?.role;
  }

  it('disables, enables and deletes a user', async () => {
    await t.facteur.accounts.createUser(
      { email: 'otto@example.com', name: 'Otto Other', role: 'operator' },
      { kind: 'system' },
    );
    // A second admin: accounts.update refuses to disable anyone (even an operator) while a
    // single admin is active (LAST_ADMIN; reported: the check should be for admins only).
    await t.facteur.accounts.createUser(
      { email: 'backup@example.com', name: 'Bea Backup', role: 'admin', password: 'another admin password' },
      { kind: 'system' },
    );
    await page.goto(`${origin.url}/#/settings/users`);
    await page.reload();
    const row = page.getByTestId('users').getByRole('row', { name: /Otto Other/ });
    await row.getByText('emailed link').waitFor();
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('disabled', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Enable' }).click();
    await row.getByText('active', { exact: true }).waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('status').getByText('otto@example.com was deleted.').waitFor();
    await expect.poll(() => row.count()).toBe(0);
  });

  it('creates an API key, shows it once, and revokes another', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { name: 'Create an API key' }).waitFor();
    await page.getByLabel('Name').fill('nightly-import');
    await page.getByLabel('Role').selectOption('operator');
    await page.getByRole('button', { name: 'Create the key' }).click();
    const shown = page.getByTestId('new-key');
    await shown.getByText('it is shown this once').waitFor();
    const key = (await shown.locator('code').textContent()) ?? '';
    expect(key.length).toBeGreaterThan(20);
    const keys = page.getByTestId('keys');
    await keys.getByRole('rowheader', { name: 'nightly-import' }).waitFor();
    await screenshot(page, 'settings-keys');
    // The key works, and is never shown again.
    const me = await fetch(`${t.url}/api/reports`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);
    await shown.getByRole('button', { name: 'I have stored it' }).click();
    await page.reload();
    await keys.getByRole('rowheader', { name: 'nightly-import' }).waitFor();
    expect(await page.getByText(key).count()).toBe(0);
    // Revoke it, after a confirmation: it stops working at once.
    const row = keys.getByRole('row', { name: /nightly-import/ });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByRole('status').getByText('The key nightly-import was revoked.').waitFor();
    await row.getByText(/revoked/).waitFor();
    const after = await fetch(`${t.url}/api/reports`, { headers: { authorization: `Bearer ${key}` } });
    expect(after.status).toBe(401);
  });

  it('shows those changes in the audit log with the admin as actor, filtered and paged', async () => {
    await page.goto(`${origin.url}/#/settings/audit`);
    const audit = page.getByTestId('audit');
    await audit.getByText('user.created').first().waitFor();
    const created = audit
      .getByRole('row')
      .filter({ hasText: 'user.created' })
      .filter({ hasText: ADMIN.email });
    await created.first().waitFor();
    await created.first().getByText('(admin)').waitFor();
    await audit.getByRole('row').filter({ hasText: 'user.updated' }).first().waitFor();
    await audit.getByRole('row').filter({ hasText: 'http.POST /api/keys' }).first().waitFor();
    await audit.getByRole('row').filter({ hasText: 'http.DELETE /api/keys/:id' }).first().waitFor();
    // Before and after, collapsed.
    const updated = audit.getByRole('row').filter({ hasText: 'Before and after (role)' }).first();
    await updated.getByText('Before and after (role)').click();
    await updated
      .getByText(/"role": "operator"/)
      .first()
      .waitFor();
    await screenshot(page, 'settings-audit');
    // Filter by action and by actor.
    await page.getByLabel('Action').fill('user.created');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/action=user.created/);
    // The new page replaces the old one when it arrives.
    await expect.poll(() => audit.getByRole('row').filter({ hasText: 'user.updated' }).count()).toBe(0);
    await audit.getByText('user.created').first().waitFor();
    await page.getByRole('button', { name: 'Clear the filters' }).click();
    await page.getByLabel('Actor').selectOption({ label: ADMIN.email });
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/actor=/);
    await expect.poll(() => audit.getByRole('row').filter({ hasText: 'system' }).count()).toBe(0);
    // Older: a page holds 50 entries; the rest comes by cursor.
    for (let i = 0; i < 50; i += 1)
      await t.request('PATCH', `/api/users/${await userId(VIEWER.email)}`, { body: { name: `Vera ${i}` } });
    await page.goto(`${origin.url}/#/settings/audit`);
    await audit.getByText('user.updated').first().waitFor();
    await page.getByRole('button', { name: 'Older' }).click();
    await page.waitForURL(/cursor=/);
    await page.getByRole('button', { name: 'Newest' }).waitFor();
    await audit.getByRole('row').nth(1).waitFor();
  });

  async function userId(email: string): Promise<string> {
    const listed = await t.request<{ items: Array<{ id: string; email: string }> }>('GET', '/api/users');
    return listed.body.items.find((u) => u.email === email)?.id ?? '';
  }

  it('shows a viewer My account only, and changes their password there', async () => {
    const other = await browser.newContext({ locale: 'en-GB', viewport: { width: 360, height: 740 } });
    other.setDefaultTimeout(10_000);
    try {
      const p = await watchedPage(other, problems);
      await signInWithPassword(p, origin.url, VIEWER.email, VIEWER.password);
      await p.goto(`${origin.url}/#/settings/users`);
      await p.getByRole('heading', { name: 'Change my password' }).waitFor();
      const tabs = p.getByRole('navigation', { name: 'Settings sections' });
      await expect(tabs.getByRole('link').allTextContents()).resolves.toEqual(['My account']);
      expect(await p.getByTestId('users').count()).toBe(0);
      expect(await p.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await p.getByLabel('Current password').fill('not my password');
      await p.getByLabel('New password', { exact: true }).fill('a brand new password');
      await p.getByLabel('New password again').fill('a brand new password');
      await p.getByRole('button', { name: 'Change the password' }).click();
      await p.getByRole('alert').waitFor();
      await p.getByLabel('Current password').fill(VIEWER.password);
      await p.getByRole('button', { name: 'Change the password' }).click();
      await p.getByRole('status').getByText('Your password was changed.').waitFor();
      await screenshot(p, 'settings-account-viewer');
      const login = await fetch(`${t.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: VIEWER.email, password: 'a brand new password' }),
      });
      expect(login.status).toBe(200);
      // A viewer reads reports without their buttons, and cannot create one.
      await p.goto(`${origin.url}/#/reports`);
      await p.getByTestId('reports').getByRole('link', { name: 'weekly-signups' }).waitFor();
      expect(await p.getByRole('link', { name: 'New report' }).count()).toBe(0);
      await p.goto(`${origin.url}/#/reports/new`);
      await p.getByText('Your role can read reports but not create them.').waitFor();
      expect(await p.getByRole('button', { name: 'Create the report' }).count()).toBe(0);
      await p.goto(`${origin.url}/#/reports/${reportId}`);
      await p.getByRole('heading', { name: 'weekly-signups' }).waitFor();
      await p.getByText('Your role reads reports').waitFor();
      expect(await p.getByRole('button', { name: 'Run now' }).count()).toBe(0);
      expect(await p.getByRole('button', { name: 'Pause' }).count()).toBe(0);
      expect(await p.getByRole('button', { name: 'Edit' }).count()).toBe(0);
      await p.getByTestId('report').getByText('Inscriptions : {{ data.count }}').waitFor();
      await p.goto(`${origin.url}/#/settings/account`);
      // Signing out everywhere ends this session too.
      await p.getByRole('main').getByRole('button', { name: 'Sign out everywhere' }).click();
      await p.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
    } finally {
      await other.close();
    }
  });

  it('lists a push report, previews it and runs it now, showing each stage', async () => {
    await page.goto(`${origin.url}/#/reports`);
    const list = page.getByTestId('reports');
    await list.getByRole('link', { name: 'weekly-signups' }).waitFor();
    await screenshot(page, 'reports');
    await list.getByRole('link', { name: 'weekly-signups' }).click();
    await page.getByRole('heading', { name: 'weekly-signups' }).waitFor();
    await page.getByText('No run yet.').waitFor();
    // Without data a push report refuses to run, and says why.
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel(/Data for the templates/).fill('{"count": 42}');
    await page.getByRole('button', { name: 'Preview' }).click();
    const preview = page.getByTestId('preview');
    await preview.getByText('Inscriptions : 42').waitFor();
    await preview.getByText('42 inscriptions cette semaine').waitFor();
    await page.getByRole('button', { name: 'Run now' }).click();
    await page
      .getByRole('status')
      .getByText(/Run .+ started\./)
      .waitFor();
    const run = page.getByTestId('runs').locator('article').first();
    await run.getByText('sent', { exact: true }).waitFor({ timeout: 15_000 });
    for (const stage of ['fetch', 'render', 'queue', 'send'])
      await run.getByRole('rowheader', { name: stage }).waitFor();
    await screenshot(page, 'report-run');
    // Pause and resume.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page
      .getByRole('status')
      .getByText(/The report is paused/)
      .waitFor();
    await page.getByTestId('report').getByText('paused').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('status').getByText('The report is active again.').waitFor();
    // In French.
    await page.getByRole('button', { name: 'Français' }).click();
    await page.getByRole('heading', { name: 'Exécutions' }).waitFor();
    await page.getByTestId('runs').locator('article').first().getByText('envoyé', { exact: true }).waitFor();
    await screenshot(page, 'report-run-fr');
    await page.goto(`${origin.url}/#/settings/users`);
    await page.getByRole('heading', { name: 'Personnes pouvant se connecter' }).waitFor();
    await page.getByRole('button', { name: 'English' }).click();
    expect(unexpectedProblems()).toEqual([]);
  });

  it('renders the preview in a sandboxed frame, edits the report with field problems shown, pauses and resumes', async () => {
    await page.goto(`${origin.url}/#/reports/${reportId}`);
    await page.getByRole('heading', { name: 'weekly-signups' }).waitFor();
    await page.getByLabel(/Data for the templates/).fill('{"count": 7}');
    await page.getByRole('button', { name: 'Preview' }).click();
    const preview = page.getByTestId('preview');
    await preview.getByText('Inscriptions : 7').waitFor();
    const frameElement = preview.locator('iframe.rendered');
    expect(await frameElement.getAttribute('sandbox')).toBe('');
    expect(await frameElement.getAttribute('title')).toBe('The report as its recipients see it');
    await preview.frameLocator('iframe.rendered').getByRole('heading', { name: '7 inscriptions' }).waitFor();
    // The source is one toggle away.
    await preview.getByText('HTML source').click();
    await preview.getByText('<h1>7 inscriptions</h1>').waitFor();
    await screenshot(page, 'report-preview');

    // Edit: a bad recipient and a schedule on a push report are refused, each under its field.
    await page.getByRole('button', { name: 'Edit' }).click();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Edit the report' }) });
    await form.getByLabel('Recipients (one per line)').fill('not an address');
    await form.getByLabel(/^Schedule/).fill('0 19 * * *');
    await form.getByRole('button', { name: 'Save the changes' }).click();
    await form.getByTestId('report-to-error').waitFor();
    await form.getByRole('alert').getByText('VALIDATION_FAILED').waitFor();
    expect(await form.getByLabel('Recipients (one per line)').getAttribute('aria-invalid')).toBe('true');
    await form.getByLabel('Recipients (one per line)').fill('team@example.com\nboss@example.com');
    await form.getByRole('button', { name: 'Save the changes' }).click();
    await form
      .getByTestId('report-cron-error')
      .getByText(/scheduled run has no pushed data/)
      .waitFor();
    await screenshot(page, 'report-edit-problems');
    await form.getByLabel(/^Schedule/).fill('');
    await form.getByLabel('Subject (Liquid)').fill('Weekly sign-ups: {{ data.count }}');
    await form.getByRole('button', { name: 'Save the changes' }).click();
    await page
      .getByRole('status')
      .getByText(/The report was saved/)
      .waitFor();
    const facts = page.getByTestId('report');
    await facts.getByText('Weekly sign-ups: {{ data.count }}').waitFor();
    await facts.getByText('team@example.com, boss@example.com').waitFor();
    const saved = await t.request<{ subject: string; to: string[]; schedule: unknown }>(
      'GET',
      `/api/reports/${reportId}`,
    );
    expect(saved.body.subject).toBe('Weekly sign-ups: {{ data.count }}');
    expect(saved.body.to).toEqual(['team@example.com', 'boss@example.com']);
    expect(saved.body.schedule).toBeNull();
    // The preview uses the new subject.
    await page.getByRole('button', { name: 'Preview' }).click();
    await preview.getByText('Weekly sign-ups: 7').waitFor();

    // Pause and resume, as the API then says.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page
      .getByRole('status')
      .getByText(/The report is paused/)
      .waitFor();
    await facts.getByText('paused').waitFor();
    await expect
      .poll(async () => (await t.request<{ status: string }>('GET', `/api/reports/${reportId}`)).body.status)
      .toBe('paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('status').getByText('The report is active again.').waitFor();
    await expect
      .poll(async () => (await t.request<{ status: string }>('GET', `/api/reports/${reportId}`)).body.status)
      .toBe('active');
    expect(unexpectedProblems()).toEqual([]);
  });

  it('shows a scheduled report fully: schedule in words, next run, source without secrets, on a phone', async () => {
    const created = await t.request<{ id: string }>('POST', '/api/reports', {
      body: {
        name: 'nightly-orders',
        to: ['ops@example.com'],
        subject: 'Orders {{ data.n }}',
        text: '{{ data.n }} orders',
        schedule: { cron: '0 19 * * *', timezone: 'Europe/Paris' },
        data: {
          type: 'http',
          url: 'https://example.com/orders.json',
          bearerToken: 'a-very-secret-token',
          headers: { 'x-api-key': 'another-secret' },
        },
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const phone = await browser.newContext({ locale: 'en-GB', viewport: { width: 360, height: 740 } });
    phone.setDefaultTimeout(10_000);
    try {
      const p = await watchedPage(phone, problems);
      await signInWithPassword(p, origin.url, ADMIN.email, ADMIN.password);
      await p.goto(`${origin.url}/#/reports/${created.body.id}`);
      const facts = p.getByTestId('report');
      await facts.getByText('every day at 19:00 (0 19 * * *, Europe/Paris)').waitFor();
      await facts.getByText('https://example.com/orders.json').waitFor();
      await facts.getByText('x-api-key').waitFor();
      await facts.getByText('set (hidden)').waitFor();
      expect(await p.getByText(/a-very-secret-token|another-secret/).count()).toBe(0);
      expect(
        await facts
          .locator('dd')
          .filter({ hasText: /\d{2}\/\d{2}\/\d{4}/ })
          .count(),
      ).toBeGreaterThan(0);
      await p.getByTestId('templates').locator('summary').click();
      await p.getByTestId('templates').getByText('{{ data.n }} orders').waitFor();
      expect(await p.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await screenshot(p, 'report-definition-phone');
    } finally {
      await phone.close();
    }
    expect(unexpectedProblems()).toEqual([]);
  });

  it('creates a push report from the form, a field problem first, shows its token once, lists and opens it', async () => {
    await page.goto(`${origin.url}/#/reports`);
    await page.getByRole('link', { name: 'New report' }).click();
    await page.getByRole('heading', { name: 'New report', level: 1 }).waitFor();
    const form = page.locator('form', { has: page.getByRole('heading', { name: 'Define the report' }) });
    await form.getByLabel(/^Name/).fill('form-push');
    await form.getByLabel('Description (optional)').fill('Made in the browser');
    await form.getByLabel('Recipients (one per line)').fill('not an address');
    await form.getByLabel('Subject (Liquid)').fill('Pushed: {{ data.n }}');
    await form.getByLabel('Text template (Liquid)').fill('{{ data.n }} items pushed');
    await form.getByLabel('Data source').selectOption('push');
    await form.getByRole('button', { name: 'Create the report' }).click();
    await form
      .getByTestId('report-to-error')
      .getByText(/not an address/)
      .waitFor();
    await form.getByRole('alert').getByText('VALIDATION_FAILED').waitFor();
    expect(await form.getByLabel('Recipients (one per line)').getAttribute('aria-invalid')).toBe('true');
    expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
    await screenshot(page, 'report-new');
    const before = await t.request<{ reports: Array<{ name: string }> }>('GET', '/api/reports');
    expect(before.body.reports.map((r) => r.name)).not.toContain('form-push');

    await form.getByLabel('Recipients (one per line)').fill('team@example.com, boss@example.com');
    await form.getByRole('button', { name: 'Create the report' }).click();
    await page.waitForURL(/#\/reports\/[^/]+$/);
    await page.getByRole('heading', { name: 'form-push' }).waitFor();
    const id = decodeURIComponent(new URL(page.url()).hash.split('/')[2] ?? '');
    const createdNote = page.getByTestId('report-created');
    await createdNote.getByText('it is shown this once').waitFor();
    const token = (await createdNote.getByTestId('new-secret').textContent()) ?? '';
    expect(token.length).toBeGreaterThan(20);
    const facts = page.getByTestId('report');
    await facts.getByText('team@example.com, boss@example.com').waitFor();
    await facts.getByText('Made in the browser').waitFor();
    await facts.getByText('on trigger only').waitFor();
    const saved = await t.request<{ data: { type: string }; to: string[]; text: string }>(
      'GET',
      `/api/reports/${id}`,
    );
    expect(saved.body.data.type).toBe('push');
    expect(saved.body.to).toEqual(['team@example.com', 'boss@example.com']);
    expect(saved.body.text).toBe('{{ data.n }} items pushed');
    // The token shown triggers this report without an API key.
    const triggered = await fetch(`${t.url}/api/reports/${id}/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-report-token': token },
      body: JSON.stringify({ data: { n: 3 } }),
    });
    expect(triggered.status).toBe(202);
    // It is shown once: not after a reload.
    await page.reload();
    await page.getByRole('heading', { name: 'form-push' }).waitFor();
    expect(await page.getByTestId('report-created').count()).toBe(0);
    expect(await page.getByText(token).count()).toBe(0);

    await page.goto(`${origin.url}/#/reports`);
    const list = page.getByTestId('reports');
    await list.getByRole('link', { name: 'form-push' }).click();
    await page.getByRole('heading', { name: 'form-push' }).waitFor();
    await page.getByTestId('runs').locator('article').first().waitFor();
    expect(unexpectedProblems()).toEqual([]);
  });

  it('creates an http report from the form against a local receiver and previews the fetched data', async () => {
    const receiver = await startHttpReceiver();
    receiver.respond({ status: 200, body: { title: 'Orders', count: 12 } });
    try {
      await page.goto(`${origin.url}/#/reports/new`);
      const form = page.locator('form', { has: page.getByRole('heading', { name: 'Define the report' }) });
      await form.getByLabel(/^Name/).fill('form-http');
      await form.getByLabel('Recipients (one per line)').fill('ops@example.com');
      await form.getByLabel('Subject (Liquid)').fill('{{ data.title }}: {{ data.count }}');
      await form.getByLabel('HTML template (Liquid)').fill('<p>{{ data.count }} orders today</p>');
      await form.getByLabel(/^Schedule/).fill('every day');
      await form.getByLabel('Time zone').fill('Europe/Paris');
      await form.getByLabel('Data source').selectOption('http');
      await form.getByLabel('Data URL').fill('ftp://127.0.0.1/stats.json');
      const bearer = form.getByLabel(/^Bearer token/);
      expect(await bearer.getAttribute('type')).toBe('password');
      await bearer.fill('receiver-secret');
      await form.getByLabel(/^Fetch timeout/).fill('5s');
      // Nested fields: the schedule's cron, then the data URL, each under its own input.
      await form.getByRole('button', { name: 'Create the report' }).click();
      await form.getByTestId('report-cron-error').waitFor();
      await form.getByLabel(/^Schedule/).fill('0 7 * * *');
      await form.getByRole('button', { name: 'Create the report' }).click();
      await form
        .getByTestId('report-url-error')
        .getByText(/http or https/)
        .waitFor();
      expect(await form.getByTestId('report-cron-error').count()).toBe(0);
      expect(await form.getByLabel('Data URL').getAttribute('aria-invalid')).toBe('true');
      await form.getByLabel('Data URL').fill(`${receiver.url}/stats.json`);
      await form.getByRole('button', { name: 'Create the report' }).click();
      await page.getByRole('heading', { name: 'form-http' }).waitFor();
      await page.getByTestId('report-created').getByTestId('new-secret').waitFor();
      const facts = page.getByTestId('report');
      await facts.getByText(`${receiver.url}/stats.json`).waitFor();
      await facts.getByText('set (hidden)').waitFor();
      await facts.getByText('every day at 07:00 (0 7 * * *, Europe/Paris)').waitFor();
      await facts.getByText('timeout 5s, 2 retries').waitFor();
      expect(await page.getByText('receiver-secret').count()).toBe(0);
      // The preview fetches the data from the receiver, with the bearer token.
      await page.getByRole('button', { name: 'Preview' }).click();
      const preview = page.getByTestId('preview');
      await preview.getByText('Orders: 12').waitFor();
      const [request] = await receiver.waitForRequests(1);
      expect(request?.path).toBe('/stats.json');
      expect(request?.headers.authorization).toBe('Bearer receiver-secret');
      expect(unexpectedProblems()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('shows the rule settings to an admin and saves a change, with the field problems shown', async () => {
    await page.goto(`${origin.url}/#/settings/rules`);
    const form = page.getByRole('form', { name: 'Rule settings' });
    await form.getByLabel(/^Time zone/).waitFor();
    expect(await form.getByLabel(/^Time zone/).inputValue()).toBe('Europe/Paris');
    await form.getByLabel(/^Time zone/).fill('Mars/Olympus');
    await form.getByRole('button', { name: 'Save the rule settings' }).click();
    await form
      .getByTestId('rules-timezone-error')
      .getByText(/IANA time zone/)
      .waitFor();
    await form.getByLabel(/^Time zone/).fill('UTC');
    await form.getByLabel(/^Senders allowed/).fill('@example.com\nboss@example.org');
    await form.getByLabel('Skip replies and forwards').uncheck();
    await form.getByRole('button', { name: 'Save the rule settings' }).click();
    await form
      .getByRole('status')
      .getByText(/The rule settings were saved/)
      .waitFor();
    const saved = await t.request<{
      timeZone: string;
      senderAllowlist: string[];
      skipRepliesAndForwards: boolean;
    }>('GET', '/api/rules/settings');
    expect(saved.body.timeZone).toBe('UTC');
    expect(saved.body.senderAllowlist).toEqual(['@example.com', 'boss@example.org']);
    expect(saved.body.skipRepliesAndForwards).toBe(false);
    await page.reload();
    await expect.poll(() => form.getByLabel(/^Time zone/).inputValue()).toBe('UTC');
    await screenshot(page, 'settings-rules');
    expect(unexpectedProblems()).toEqual([]);
  });
});
