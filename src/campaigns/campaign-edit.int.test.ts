import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';

const skip = await databaseSkipReason();

interface View {
  id: string;
  name: string;
  status: string;
  subject: string;
  from: string | null;
  ownerEmail: string | null;
  startAt: string | null;
  version: number;
}
interface Refused {
  error: { code: string; message: string; details: unknown };
}

/**
 * Editing a campaign before it starts (`PATCH /api/campaigns/:id`) on both databases: a draft's
 * content, a schedule set and taken back, the rendered preview following the edit, a refusal
 * once it is sending (nothing changed), a bad template naming its field, and the audit entry.
 */
describe.skipIf(skip)('campaigns: editing before the start', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur();
  });
  afterAll(async () => {
    await app?.close();
  });

  const create = async (extra: Record<string, unknown> = {}) => {
    const created = await app.request<View>('POST', '/api/campaigns', {
      body: {
        name: 'Assemblée',
        subject: 'AG, {{ name }}',
        text: 'Bonjour {{ name }}',
        recipients: [{ address: 'helene@example.fr', name: 'Hélène' }, { address: 'jerome@example.fr' }],
        ...extra,
      },
    });
    expect(created.status).toBe(201);
    return created.body;
  };
  const content = async (id: string) =>
    (await app.request<Record<string, unknown>>('GET', `/api/campaigns/${id}/content`)).body;

  it('edits a draft: content, name and owner; null removes a field; the preview follows', async () => {
    const draft = await create({ replyTo: 'bureau@example.org' });
    const patched = await app.request<View>('PATCH', `/api/campaigns/${draft.id}`, {
      body: {
        name: 'Assemblée générale',
        subject: 'AG du 14 mars, {{ name }}',
        html: '<p>Bonjour <b>{{ name }}</b></p>',
        replyTo: null,
        ownerEmail: 'secretaire@example.org',
        attachments: [{ filename: 'ordre-du-jour.txt', contentType: 'text/plain', content: 'QUcgMjAyNg==' }],
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      status: 'draft',
      name: 'Assemblée générale',
      subject: 'AG du 14 mars, {{ name }}',
      ownerEmail: 'secretaire@example.org',
      version: draft.version + 1,
    });
    const now = await content(draft.id);
    expect(now).toMatchObject({
      subject: 'AG du 14 mars, {{ name }}',
      text: 'Bonjour {{ name }}',
      html: '<p>Bonjour <b>{{ name }}</b></p>',
      attachments: [{ filename: 'ordre-du-jour.txt', content: 'QUcgMjAyNg==' }],
    });
    expect(now).not.toHaveProperty('replyTo');

    const page = await app.request<string>(
      'GET',
      `/api/campaigns/${draft.id}/preview.html?address=helene@example.fr`,
    );
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain('sandbox');
    expect(page.body).toBe('<p>Bonjour <b>Hélène</b></p>');
    // The same rendering as the POST preview.
    const json = await app.request<{ subject: string; html: string }>(
      'POST',
      `/api/campaigns/${draft.id}/preview`,
      { body: { address: 'helene@example.fr' } },
    );
    expect(json.body).toMatchObject({ subject: 'AG du 14 mars, Hélène', html: page.body });

    // The HTTP layer records the change.
    let actions: string[] = [];
    for (let i = 0; i < 100 && !actions.includes('http.PATCH /api/campaigns/:id'); i++) {
      const audit = await app.request<{ items: Array<{ action: string }> }>(
        'GET',
        `/api/audit?targetId=${draft.id}`,
      );
      actions = audit.body.items.map((e) => e.action);
      if (!actions.includes('http.PATCH /api/campaigns/:id')) await new Promise((r) => setTimeout(r, 20));
    }
    expect(actions).toContain('http.PATCH /api/campaigns/:id');
  });

  it('answers the text part, escaped, when there is no HTML; a bad address is refused', async () => {
    const draft = await create({ text: 'Bonjour <{{ name }}>' });
    const page = await app.request<string>('GET', `/api/campaigns/${draft.id}/preview.html`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Bonjour &#60;Hélène&#62;');
    expect(page.body).toContain('<pre');
    const unknown = await app.request<Refused>(
      'GET',
      `/api/campaigns/${draft.id}/preview.html?address=nobody@example.fr`,
    );
    expect(unknown.status).toBe(404);
    const long = await app.request<Refused>(
      'GET',
      `/api/campaigns/${draft.id}/preview.html?address=${'a'.repeat(400)}`,
    );
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('schedules a draft, moves the time, then unschedules it back to a draft', async () => {
    const draft = await create();
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await app.request<View>('PATCH', `/api/campaigns/${draft.id}`, {
      body: { start: later },
    });
    expect(scheduled.status).toBe(200);
    expect(scheduled.body).toMatchObject({ status: 'scheduled', startAt: later });
    const listed = await app.request<{ campaigns: View[] }>('GET', '/api/campaigns?status=scheduled');
    expect(listed.body.campaigns.map((c) => c.id)).toContain(draft.id);

    const further = new Date(Date.now() + 7_200_000).toISOString();
    const moved = await app.request<View>('PATCH', `/api/campaigns/${draft.id}`, {
      body: { start: further, subject: 'Reporté, {{ name }}' },
    });
    expect(moved.body).toMatchObject({
      status: 'scheduled',
      startAt: further,
      subject: 'Reporté, {{ name }}',
    });

    const back = await app.request<View>('PATCH', `/api/campaigns/${draft.id}`, { body: { start: null } });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ status: 'draft', startAt: null });
  });

  it('starts a draft with start "now"', async () => {
    const draft = await create();
    const started = await app.request<View>('PATCH', `/api/campaigns/${draft.id}`, {
      body: { start: 'now' },
    });
    expect(started.status).toBe(200);
    expect(['running', 'finished']).toContain(started.body.status);
  });

  it('refuses once it is sending, with CAMPAIGN_NOT_EDITABLE, and changes nothing', async () => {
    const running = await create({ start: 'now' });
    const before = await content(running.id);
    const view = (await app.request<View>('GET', `/api/campaigns/${running.id}`)).body;
    const refused = await app.request<Refused>('PATCH', `/api/campaigns/${running.id}`, {
      body: { subject: 'Trop tard', start: null },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('CAMPAIGN_NOT_EDITABLE');
    expect(refused.body.error.details).toMatchObject({ allowedFrom: ['draft', 'scheduled'] });
    expect(await content(running.id)).toEqual(before);
    const after = (await app.request<View>('GET', `/api/campaigns/${running.id}`)).body;
    expect(after.subject).toBe(view.subject);
    expect(after.name).toBe(view.name);
  });

  it('names the field of a bad template, a bad address and an unknown field, and changes nothing', async () => {
    const draft = await create();
    const before = await content(draft.id);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ html: '<p>{% if name %}oops</p>' }, 'html'],
      [{ subject: 'AG {{ name ' }, 'subject'],
      [{ from: 'not an address' }, 'from'],
      [{ start: 'tomorrow' }, 'start'],
      [{ recipients: [{ address: 'x@example.fr' }] }, 'recipients'],
    ];
    for (const [body, field] of cases) {
      const refused = await app.request<Refused>('PATCH', `/api/campaigns/${draft.id}`, { body });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('VALIDATION_FAILED');
      const fields = (refused.body.error.details as Array<{ field: string }>).map((d) => d.field);
      expect(fields.join(' '), JSON.stringify(body)).toContain(field);
    }
    // Removing both bodies leaves nothing to send.
    const empty = await app.request<Refused>('PATCH', `/api/campaigns/${draft.id}`, { body: { text: null } });
    expect(empty.status).toBe(400);
    expect((empty.body.error.details as Array<{ field: string }>)[0]?.field).toBe('text');
    expect(await content(draft.id)).toEqual(before);
    const view = (await app.request<View>('GET', `/api/campaigns/${draft.id}`)).body;
    expect(view.version).toBe(draft.version);
  });

  it('answers NOT_FOUND for an unknown campaign', async () => {
    const missing = await app.request<Refused>('PATCH', '/api/campaigns/nope', { body: { subject: 'x' } });
    expect(missing.status).toBe(404);
  });
});
