import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSkipReason,
  type DashboardSession,
  OVERFLOW,
  openDashboard,
  screenshot,
  signInWithPassword,
} from '../support/browser.js';
import type { TestFacteur } from '../support/facteur.js';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

/**
 * The campaigns screens in Chromium against a real Facteur on SQLite (issue 13): a list made by
 * importing a CSV file (its bad row shown with its line), a campaign written in the browser,
 * previewed and tested (the test reaches the built-in catcher), then started and watched live
 * until it is finished with every recipient sent; who received it, and the CSV export. Then the
 * rendered preview in its sandboxed frame, editing a draft (subject, attachments), scheduling it
 * from the form, and, against an SMTP sink that refuses some addresses, sending again to the
 * failed.
 */

const skip = browserSkipReason();
const ADMIN = { email: 'admin@example.com', name: 'Ada Admin', password: 'correct horse battery staple' };
const MEMBERS = 30;

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
  let session: DashboardSession;
  let t: TestFacteur;
  let page: Page;
  let campaignId = '';

  beforeAll(async () => {
    session = await openDashboard({ admin: ADMIN });
    ({ t, page } = session);
  });
  afterAll(async () => {
    await session?.close();
  });

  /** Console errors other than the 401 of `/auth/session` before signing in. */
  const unexpectedProblems = () => session.unexpected(/status of 401/);

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
    await page.goto(`${session.origin.url}/#/campaigns/${scheduled.body.id}`);
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
    await page.goto(`${session.origin.url}/#/campaigns/${draft.body.id}`);
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

  /** A local date and time for a `datetime-local` input (Chromium runs in this process's time zone). */
  const localInput = (ms: number) => {
    const d = new Date(ms);
    const p2 = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}`;
  };
  let draftId = '';

  it("shows the rendered preview in a sandboxed frame, with the member's name, and toggles to the source", async () => {
    const draft = await t.request<{ id: string }>('POST', '/api/campaigns', {
      body: {
        name: 'Sortie vélo',
        from: 'Le club <club@example.org>',
        subject: 'Sortie du dimanche, {{ name }}',
        text: 'Bonjour {{ name }}',
        html: '<h1>Bonjour {{ name }}</h1><p>Rendez-vous à {{ ville }}.</p>',
        recipients: [
          { address: 'helene@example.fr', name: 'Hélène', fields: { ville: 'Lyon' } },
          { address: 'jerome@example.fr', name: 'Jérôme', fields: { ville: 'Paris' } },
        ],
      },
    });
    expect(draft.status).toBe(201);
    draftId = draft.body.id;
    await page.goto(`${session.origin.url}/#/campaigns/${draftId}`);
    await page.getByTestId('campaign-status').getByText('draft').waitFor();
    await page.getByLabel('As received by').fill('jerome@example.fr');
    await page.getByRole('button', { name: 'Show the preview' }).click();
    const frame = page.locator('iframe.rendered');
    expect(await frame.getAttribute('sandbox')).toBe('');
    const inside = page.frameLocator('iframe.rendered');
    await inside.getByRole('heading', { name: 'Bonjour Jérôme' }).waitFor();
    await inside.getByText('Rendez-vous à Paris.').waitFor();
    await screenshot(page, 'campaign-preview-rendered');
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.getByRole('button', { name: 'Show the HTML source' }).click();
    await page
      .getByTestId('campaign-preview')
      .getByText('<h1>Bonjour Jérôme</h1>', { exact: false })
      .waitFor();
    expect(await frame.count()).toBe(0);
    await screenshot(page, 'campaign-preview-source');
    await page.getByRole('button', { name: 'Show the rendered message' }).click();
    await inside.getByRole('heading', { name: 'Bonjour Jérôme' }).waitFor();
  });

  it("edits a draft's subject and attachments, then the preview shows the new subject", async () => {
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit “Sortie vélo”' }).waitFor();
    // The writing step is the new-campaign form's, filled with the campaign as it is.
    expect(await page.getByLabel('Subject').inputValue()).toBe('Sortie du dimanche, {{ name }}');
    expect(await page.getByLabel('From', { exact: true }).inputValue()).toBe('Le club <club@example.org>');
    await page.getByLabel('Subject').fill('Sortie reportée, {{ name }}');
    const files = page.getByLabel('Attachments (optional)');
    await files.setInputFiles([
      { name: 'parcours.txt', mimeType: 'text/plain', buffer: Buffer.from('Lyon - Vienne, 60 km') },
      { name: 'brouillon.txt', mimeType: 'text/plain', buffer: Buffer.from('à retirer') },
    ]);
    const listed = page.getByTestId('campaign-attachments');
    await listed.getByText('brouillon.txt').waitFor();
    await page.getByRole('button', { name: 'Remove brouillon.txt' }).click();
    expect(await listed.getByRole('listitem').count()).toBe(1);
    // Over 10 MB in all is refused before anything is sent.
    await files.setInputFiles({
      name: 'trop-gros.pdf',
      mimeType: 'application/pdf',
      buffer: Buffer.alloc(10 * 1024 * 1024 + 1),
    });
    await page.getByRole('alert').getByText('trop-gros.pdf is not attached').waitFor();
    expect(await listed.getByRole('listitem').count()).toBe(1);
    await screenshot(page, 'campaign-edit');
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      expect(await page.evaluate(OVERFLOW)).toBeLessThanOrEqual(0);
      await screenshot(page, 'campaign-edit-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.getByRole('button', { name: 'Save as draft' }).click();
    await page.getByTestId('campaign-status').getByText('draft').waitFor();
    await page.getByRole('button', { name: 'Show the preview' }).click();
    await page.getByTestId('campaign-preview-subject').getByText('Sortie reportée, Hélène').waitFor();
    const content = await t.request<{ subject: string; attachments: Array<{ filename: string }> }>(
      'GET',
      `/api/campaigns/${draftId}/content`,
    );
    expect(content.body.subject).toBe('Sortie reportée, {{ name }}');
    expect(content.body.attachments.map((a) => a.filename)).toEqual(['parcours.txt']);
  });

  it('schedules it for a time from the form (a past time refused), lists it as scheduled, then cancels it', async () => {
    await page.getByRole('link', { name: 'Edit' }).click();
    const startAt = page.getByLabel('Start at (your local time)');
    await startAt.fill(localInput(Date.now() - 3_600_000));
    await page.getByRole('button', { name: 'Schedule for that time' }).click();
    await page.getByRole('alert').getByText('That time is already past').waitFor();
    const at = Date.now() + 2 * 3_600_000;
    await startAt.fill(localInput(at));
    await page.getByRole('button', { name: 'Schedule for that time' }).click();
    await page.getByTestId('campaign-status').getByText('scheduled').waitFor();
    await page
      .getByTestId('campaign-starts')
      .getByText(/^Will start on /)
      .waitFor();
    const api = await t.request<{ status: string; startAt: string }>('GET', `/api/campaigns/${draftId}`);
    expect(api.body.status).toBe('scheduled');
    // The minute chosen, in the browser's time zone.
    expect(Math.abs(Date.parse(api.body.startAt) - at)).toBeLessThan(60_000);
    await screenshot(page, 'campaign-scheduled');

    await page.getByRole('link', { name: 'All campaigns' }).click();
    await page.getByLabel('State', { exact: true }).selectOption('scheduled');
    const rows = page.getByTestId('campaigns').getByRole('row');
    await rows
      .filter({ hasText: 'Sortie vélo' })
      .getByText(/starts/)
      .waitFor();
    // Only the scheduled one (and the header row) once the filter applies.
    await expect.poll(() => rows.count()).toBe(2);
    await screenshot(page, 'campaign-list-scheduled');
    await rows.filter({ hasText: 'Sortie vélo' }).getByRole('link').click();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Cancel the campaign' }).click();
    await page.getByTestId('campaign-status').getByText('cancelled').waitFor();
    expect(await page.getByRole('link', { name: 'Edit' }).count()).toBe(0);
    // The 401 before signing in and the 400 of the bad pasted address above; nothing else.
    expect(session.unexpected(/status of 40[01]/)).toEqual([]);
  });

  it('shows a viewer the campaigns without any button that changes them', async () => {
    await t.facteur.accounts.createUser(
      { email: 'viewer@example.com', name: 'Vera Viewer', role: 'viewer', password: ADMIN.password },
      { kind: 'system' },
    );
    const p = await session.otherPage();
    await signInWithPassword(p, session.origin.url, 'viewer@example.com', ADMIN.password);
    await p.goto(`${session.origin.url}/#/campaigns`);
    const link = p.getByTestId('campaigns').getByRole('link', { name: 'Assemblée générale 2026' });
    await link.waitFor();
    expect(await p.getByRole('link', { name: 'New campaign' }).count()).toBe(0);
    await link.click();
    await p.getByTestId('campaign-status').getByText('finished').waitFor();
    await p.getByTestId('recipients').waitFor();
    expect(await p.getByTestId('campaign-actions').count()).toBe(0);
    expect(await p.getByRole('link', { name: 'Export as CSV' }).count()).toBe(1);
  });
});

describe.skipIf(skip)(`sending again to the failed, in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let sink: SmtpSink;
  let session: DashboardSession;
  let refuse = true;

  beforeAll(async () => {
    sink = await startSmtpSink();
    sink.onRcpt(({ address }) =>
      refuse && address.startsWith('refuse-')
        ? { kind: 'reply', code: 550, message: '5.1.1 no such user' }
        : 'accept',
    );
    session = await openDashboard({ facteur: { FACTEUR_SMTP_URL: sink.url }, admin: ADMIN });
  });
  afterAll(async () => {
    await session?.close();
    await sink?.close();
  });

  it('shows the failed count, requeues the failed with the button, and the counts then match', async () => {
    const { t, page } = session;
    const recipients = ['a', 'b', 'refuse-c', 'd', 'refuse-e', 'f'].map((n) => ({
      address: `${n}@example.fr`,
    }));
    const created = await t.request<{ id: string }>('POST', '/api/campaigns', {
      body: { name: 'Relance', subject: 'Bonjour', text: 'Bonjour {{ email }}', recipients, start: 'now' },
    });
    expect(created.status).toBe(201);
    await page.goto(`${session.origin.url}/#/campaigns/${created.body.id}`);
    const status = page.getByTestId('campaign-status');
    const counts = page.getByTestId('campaign-counts');
    await status.getByText('finished').waitFor({ timeout: 20_000 });
    expect(await counts.locator('dd[data-state="sent"]').textContent()).toBe('4');
    expect(await counts.locator('dd[data-state="failed"]').textContent()).toBe('2');
    await page
      .getByTestId('recipients')
      .getByRole('cell', { name: /5\.1\.1 no such user/ })
      .first()
      .waitFor();
    await screenshot(page, 'campaign-failed');

    refuse = false;
    await page.getByRole('button', { name: 'Send again to the 2 failed' }).click();
    await page.getByRole('status').getByText('2 failed recipients are queued again.').waitFor();
    await counts.locator('dd[data-state="sent"]').getByText('6').waitFor({ timeout: 20_000 });
    await status.getByText('finished').waitFor({ timeout: 20_000 });
    expect(await counts.locator('dd[data-state="failed"]').textContent()).toBe('0');
    expect(await page.getByRole('button', { name: /Send again to the/ }).count()).toBe(0);
    await screenshot(page, 'campaign-failed-resent');
    const api = await t.request<{ status: string; progress: { counts: Record<string, number> } }>(
      'GET',
      `/api/campaigns/${created.body.id}`,
    );
    expect(api.body.status).toBe('finished');
    expect(api.body.progress.counts).toMatchObject({ sent: 6, failed: 0 });
    expect(sink.messages.filter((m) => m.to.some((a) => a.startsWith('refuse-')))).toHaveLength(2);
    expect(session.unexpected(/status of 401/)).toEqual([]);
  });
});

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
