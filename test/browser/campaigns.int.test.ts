import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardOrigin,
  dashboardOrigin,
  launchChromium,
  screenshot,
} from '../support/browser.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';

/**
 * The campaigns screens in Chromium against a real Facteur on SQLite (issue 13): a list made by
 * importing a CSV file (its bad row shown with its line), a campaign written in the browser,
 * previewed and tested (the test reaches the built-in catcher), then started and watched live
 * until it is finished with every recipient sent; who received it, and the CSV export.
 */

const skip = browserSkipReason();
const ADMIN = { email: 'admin@example.com', name: 'Ada Admin', password: 'correct horse battery staple' };
const MEMBERS = 30;
const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';

/** A French club's spreadsheet: `MEMBERS` good rows, and a bad address on line 5. */
function membersCsv(): string {
  const lines = ['Nom;Prénom;E-mail;Ville'];
  for (let i = 1; i <= MEMBERS; i++) {
    lines.push(`Membre${i};Hélène;membre${i}@example.fr;Lyon`);
    if (i === 3) lines.push('Martin;Jérôme;pas-une-adresse;Paris');
  }
  return `${lines.join('\r\n')}\r\n`;
}

describe.skipIf(skip)(`the campaigns screens in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let t: TestFacteur;
  let origin: DashboardOrigin;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  let campaignId = '';

  beforeAll(async () => {
    t = await startTestFacteur({});
    origin = await dashboardOrigin(t.url);
    await t.facteur.accounts.createUser(
      { email: ADMIN.email, name: ADMIN.name, role: 'admin', password: ADMIN.password },
      { kind: 'system' },
    );
    browser = await launchChromium();
    context = await browser.newContext({ locale: 'en-GB', viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(`${origin.url}/`);
    await page.getByRole('heading', { name: 'Sign in to Facteur' }).waitFor();
    const form = page.locator('form', { has: page.getByLabel('Password') });
    await form.getByLabel('Email').fill(ADMIN.email);
    await form.getByLabel('Password').fill(ADMIN.password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await origin?.close();
    await t?.close();
  });

  /** Console errors other than the 401 of `/auth/session` before signing in. */
  const unexpectedProblems = () => problems.filter((p) => !/status of 401/.test(p));

  it('shows the empty list with a "New campaign" link', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Campaigns' }).click();
    await page.getByRole('heading', { name: 'Campaigns' }).waitFor();
    await page.getByText('No campaign yet.').waitFor();
    await page.getByRole('link', { name: 'New campaign' }).click();
    await page.getByRole('heading', { name: 'New campaign' }).waitFor();
  });

  it('imports a CSV file into a new list and shows the refused row with its line', async () => {
    await page.getByLabel('A spreadsheet (CSV) imported into a new list').check();
    await page.getByLabel('Name of the new list').fill('Adhérents 2026');
    await page.getByLabel('CSV file').setInputFiles({
      name: 'adherents.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(membersCsv(), 'utf8'),
    });
    await page.getByRole('button', { name: 'Import into a new list' }).click();
    const report = page.getByTestId('import-report');
    await report.getByText(`${MEMBERS + 1} rows read: ${MEMBERS} imported`).waitFor();
    await report.getByText('1 refused').waitFor();
    const bad = page.getByTestId('import-errors').getByRole('row').nth(1);
    expect(await bad.getByRole('cell').nth(0).textContent()).toBe('5');
    expect(await bad.getByRole('cell').nth(1).textContent()).toBe('E-mail');
    await report.getByText('The campaign will go to the list “Adhérents 2026”.').waitFor();
  });

  it('writes the campaign, previews it for a member, and sends a test to the catcher', async () => {
    await page.getByLabel('Name', { exact: true }).fill('Assemblée générale 2026');
    await page.getByLabel('From', { exact: true }).fill('Le club <club@example.org>');
    await page.getByLabel('Subject').fill('AG du 14 mars, {{ name }}');
    await page
      .getByLabel('Text version')
      .fill('Bonjour {{ name }} de {{ Ville }},\nà bientôt.\nSe désinscrire : {{ unsubscribe_url }}');
    await page
      .getByLabel('HTML version (optional)')
      .fill('<p>Bonjour {{ name }},</p><p><a href="{{ unsubscribe_url }}">Se désinscrire</a></p>');
    await screenshot(page, 'campaigns-new');
    await page.getByRole('button', { name: 'Save as draft' }).click();
    await page.getByRole('status').getByText(`for ${MEMBERS} recipients`).waitFor();

    await page.getByLabel('As received by').fill('membre2@example.fr');
    await page.getByRole('button', { name: 'Show the preview' }).click();
    const preview = page.getByTestId('campaign-preview');
    await preview.getByText('membre2@example.fr').waitFor();
    expect(await page.getByTestId('campaign-preview-subject').textContent()).toBe('AG du 14 mars, Membre2');
    await preview.getByText('Bonjour Membre2 de Lyon,', { exact: false }).waitFor();

    await page.getByLabel('Send to').fill('secretaire@example.org');
    await page.getByRole('button', { name: 'Send the test' }).click();
    await page.getByText('Test sent to secretaire@example.org').waitFor();
    await screenshot(page, 'campaigns-new-checked');
    await waitFor(async () => {
      const caught = await t.request<{ messages: Array<{ to: string[]; subject: string | null }> }>(
        'GET',
        '/api/catcher/messages?limit=20',
      );
      return caught.body.messages.some(
        (m) => m.to.includes('secretaire@example.org') && m.subject === '[test] AG du 14 mars, Membre2',
      );
    });
  });

  it('starts it and shows live progress to the end, every recipient sent', async () => {
    await page.getByRole('button', { name: `Start now, to ${MEMBERS} recipients` }).click();
    await page.getByRole('heading', { name: 'Assemblée générale 2026' }).waitFor();
    campaignId = /#\/campaigns\/([^/?]+)/.exec(page.url())?.[1] ?? '';
    expect(campaignId).not.toBe('');
    const status = page.getByTestId('campaign-status');
    await status.getByText(/running|finished/).waitFor();
    await screenshot(page, 'campaigns-detail-running');
    // The page follows the event stream: no reload here.
    await status.getByText('finished').waitFor({ timeout: 30_000 });
    const counts = page.getByTestId('campaign-counts');
    expect(await counts.locator('dd[data-state="sent"]').textContent()).toBe(String(MEMBERS));
    expect(await counts.locator('dd[data-state="failed"]').textContent()).toBe('0');
    await page.getByText(`${MEMBERS} of ${MEMBERS} recipients done (100%)`).waitFor();
    expect(
      await page.locator('#campaign-progress-bar').evaluate((p) => (p as unknown as { value: number }).value),
    ).toBe(MEMBERS);
    await screenshot(page, 'campaigns-detail-finished');
    const api = await t.request<{ status: string; progress: { counts: { sent: number } } }>(
      'GET',
      `/api/campaigns/${campaignId}`,
    );
    expect(api.body.status).toBe('finished');
    expect(api.body.progress.counts.sent).toBe(MEMBERS);
  });

  it('lists who received it, filtered by state, with the reply, and exports the CSV', async () => {
    const table = page.getByTestId('recipients');
    await table.getByRole('cell', { name: /membre1@example\.fr/ }).waitFor();
    await page.getByLabel('State', { exact: true }).selectOption('failed');
    await page.getByText('Nothing yet.').waitFor();
    await page.getByLabel('State', { exact: true }).selectOption('sent');
    await table.getByRole('cell', { name: /membre1@example\.fr/ }).waitFor();
    expect(await table.getByRole('row').count()).toBe(MEMBERS + 1);
    expect(await table.getByRole('cell', { name: 'catcher' }).count()).toBe(MEMBERS);
    await screenshot(page, 'campaigns-recipients');
    const link = page.getByRole('link', { name: 'Export as CSV' });
    const path = await link.getAttribute('href');
    expect(path).toBe(`/api/campaigns/${campaignId}/recipients.csv?state=sent`);
    // The link works with the session cookie alone.
    const csv = await page.evaluate(async (p) => (await fetch(p as string)).text(), path);
    const lines = csv.trim().split(/\r\n/);
    expect(lines[0]).toMatch(/^address,name,state/);
    expect(lines).toHaveLength(MEMBERS + 1);

    await page.setViewportSize({ width: 360, height: 740 });
    try {
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await screenshot(page, 'campaigns-detail-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('lists the campaign, newest first, with its state and counts', async () => {
    await page.getByRole('link', { name: 'All campaigns' }).click();
    const row = page.getByTestId('campaigns').getByRole('row', { name: /Assemblée générale 2026/ });
    await row.getByText('finished').waitFor();
    await row.getByText(`sent ${MEMBERS}`).waitFor();
    await screenshot(page, 'campaigns-list');
    // In French, too.
    await page.getByRole('button', { name: 'Français' }).click();
    await page.getByRole('heading', { name: 'Campagnes' }).waitFor();
    await row.getByText('terminée').waitFor();
    await screenshot(page, 'campaigns-list-fr');
    await page.getByRole('button', { name: 'English' }).click();
    expect(unexpectedProblems()).toEqual([]);
  });
  it("shows the API's error, naming the field, for a bad pasted address", async () => {
    await page.getByRole('link', { name: 'New campaign' }).click();
    await page.getByRole('heading', { name: 'New campaign' }).waitFor();
    await page.getByLabel('Addresses typed or pasted').check();
    await page.getByLabel('Addresses, one a line').fill('ok@example.fr\nnot-an-address');
    await page.getByText('2 addresses').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Mauvaise adresse');
    await page.getByLabel('Subject').fill('Bonjour');
    await page.getByLabel('Text version').fill('Bonjour {{ name }}');
    await page.getByRole('button', { name: 'Save as draft' }).click();
    await page
      .getByRole('alert')
      .getByText(/recipients\.1\.address/)
      .waitFor();
    await screenshot(page, 'campaigns-new-error');
    // The refusal is the expected 400; nothing else went wrong.
    expect(unexpectedProblems().filter((p) => !/status of 400/.test(p))).toEqual([]);
    const list = await t.request<{ campaigns: unknown[] }>('GET', '/api/campaigns');
    expect(list.body.campaigns).toHaveLength(1);
  });

  it('pauses a scheduled campaign, resumes it to the end, and cancels a draft', async () => {
    const body = (name: string) => ({
      name,
      from: 'Le club <club@example.org>',
      subject: 'Rappel',
      text: 'Bonjour {{ name }}',
      recipients: [{ address: 'a@example.fr' }, { address: 'b@example.fr' }],
    });
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await t.request<{ id: string }>('POST', '/api/campaigns', {
      body: { ...body('Programmée'), start: later },
    });
    expect(scheduled.status).toBe(201);
    await page.goto(`${origin.url}/#/campaigns/${scheduled.body.id}`);
    const status = page.getByTestId('campaign-status');
    await status.getByText('scheduled').waitFor();
    await page.getByRole('button', { name: 'Pause' }).click();
    await status.getByText('paused').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await status.getByText('finished').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('campaign-counts').locator('dd[data-state="sent"]').textContent()).toBe(
      '2',
    );

    const draft = await t.request<{ id: string }>('POST', '/api/campaigns', { body: body('Brouillon') });
    await page.goto(`${origin.url}/#/campaigns/${draft.body.id}`);
    await status.getByText('draft').waitFor();
    // A draft can still be checked from its page.
    await page.getByRole('button', { name: 'Show the preview' }).click();
    await page.getByTestId('campaign-preview-subject').getByText('Rappel').waitFor();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Cancel the campaign' }).click();
    await status.getByText('cancelled').waitFor();
    expect(await page.getByTestId('campaign-counts').locator('dd[data-state="skipped"]').textContent()).toBe(
      '2',
    );
    expect(await page.getByRole('button', { name: 'Start now' }).count()).toBe(0);
    await screenshot(page, 'campaigns-detail-cancelled');
  });

  it('shows a viewer the campaigns without any button that changes them', async () => {
    await t.facteur.accounts.createUser(
      { email: 'viewer@example.com', name: 'Vera Viewer', role: 'viewer', password: ADMIN.password },
      { kind: 'system' },
    );
    const viewer = await browser.newContext({ locale: 'en-GB' });
    try {
      const p = await viewer.newPage();
      await p.goto(`${origin.url}/`);
      const form = p.locator('form', { has: p.getByLabel('Password') });
      await form.getByLabel('Email').fill('viewer@example.com');
      await form.getByLabel('Password').fill(ADMIN.password);
      await form.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Overview' }).waitFor();
      await p.goto(`${origin.url}/#/campaigns`);
      const link = p.getByTestId('campaigns').getByRole('link', { name: 'Assemblée générale 2026' });
      await link.waitFor();
      expect(await p.getByRole('link', { name: 'New campaign' }).count()).toBe(0);
      await link.click();
      await p.getByTestId('campaign-status').getByText('finished').waitFor();
      await p.getByTestId('recipients').waitFor();
      expect(await p.getByTestId('campaign-actions').count()).toBe(0);
      expect(await p.getByRole('link', { name: 'Export as CSV' }).count()).toBe(1);
    } finally {
      await viewer.close();
    }
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
