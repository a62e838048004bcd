import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { databaseSkipReason, testDialect } from '../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { type HttpReceiver, startHttpReceiver } from '../../test/support/http-receiver.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../../test/support/smtp-sink.js';

const skip = await databaseSkipReason();

interface CampaignView {
  id: string;
  status: string;
  progress: { total: number; done: number; counts: Record<string, number>; ratePerSecond: number };
  recipients?: { given: number; written: number; duplicates: number };
}
interface RecipientView {
  seq: number;
  address: string;
  state: string;
  reason: string | null;
  detail: string | null;
  smtpCode: number | null;
  attempts: number;
}

const TEXT = 'Bonjour {{ name }}, {{ club }} vous écrit. Désinscription : {{ unsubscribe_url }}';

describe.skipIf(skip)('campaigns: ledger, scripted refusals, control, unsubscribe', () => {
  let sink: SmtpSink;
  let receiver: HttpReceiver;
  let app: TestFacteur;
  beforeAll(async () => {
    sink = await startSmtpSink();
    receiver = await startHttpReceiver();
    app = await startTestFacteur({
      FACTEUR_SMTP_URL: sink.url,
      FACTEUR_SEND_RETRY_SCHEDULE: '50ms,50ms,50ms',
      FACTEUR_CAMPAIGN_WINDOW: '50',
      FACTEUR_SEND_CONCURRENCY: '20',
      FACTEUR_SMTP_POOL_SIZE: '10',
    });
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
    await receiver?.close();
  });
  beforeEach(() => sink.reset());

  async function finished(id: string, status = 'finished'): Promise<CampaignView> {
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      const got = await app.request<CampaignView>('GET', `/api/campaigns/${id}`);
      if (got.body.status === status) return got.body;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`campaign ${id} never reached ${status}`);
  }

  async function ledger(id: string, state?: string): Promise<RecipientView[]> {
    const rows: RecipientView[] = [];
    let after: number | null = -1;
    while (after !== null) {
      const page: { body: { recipients: RecipientView[]; nextAfter: number | null } } = await app.request(
        'GET',
        `/api/campaigns/${id}/recipients?limit=1000&after=${after}${state ? `&state=${state}` : ''}`,
      );
      rows.push(...page.body.recipients);
      after = page.body.nextAfter;
    }
    return rows;
  }

  // 10,000 on SQLite; 4,000 on PostgreSQL, whose send path is about 3 times slower on this
  // machine's two cores: the same behaviour, a suite that stays within its time (10,000 on
  // PostgreSQL passes too, in about 70 s alone: FACTEUR_CAMPAIGN_TEST_COUNT=10000).
  const count = Number(
    process.env.FACTEUR_CAMPAIGN_TEST_COUNT ?? (testDialect() === 'postgres' ? 4000 : 10_000),
  );
  it(`sends to ${count} recipients past 550s, 451s and a dropped connection: every row ends right, nothing twice`, async () => {
    const recipients = Array.from({ length: count }, (_, i) => ({
      address:
        i % 97 === 0
          ? `refuse-${i}@example.org`
          : i % 89 === 0
            ? `defer-${i}@example.org`
            : `member-${i}@example.org`,
      name: `Member ${i}`,
      fields: { club: 'Les Amis du Vélo' },
    }));
    const deferredOnce = new Set<string>();
    sink.onRcpt(({ address }) => {
      if (address.startsWith('refuse-')) return { kind: 'reply', code: 550, message: '5.1.1 no such user' };
      if (address.startsWith('defer-') && !deferredOnce.has(address)) {
        deferredOnce.add(address);
        return { kind: 'reply', code: 451, message: '4.7.1 try again later' };
      }
      return 'accept';
    });
    let dropped = false;
    sink.script((ctx) => {
      if (!dropped && ctx.attempt === 100) {
        dropped = true;
        return 'drop';
      }
      return 'accept';
    });
    const created = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: {
        name: 'Assemblée générale',
        from: 'club@example.org',
        subject: 'AG du {{ club }}',
        text: TEXT,
        recipients,
        start: 'now',
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.recipients).toEqual({ given: count, written: count, duplicates: 0 });
    const done = await finished(created.body.id);
    const refused = recipients.filter((r) => r.address.startsWith('refuse-')).length;
    expect(done.progress.counts).toMatchObject({
      sent: count - refused,
      failed: refused,
      queued: 0,
      sending: 0,
      deferred: 0,
    });

    const failed = await ledger(created.body.id, 'failed');
    expect(failed.map((r) => r.address).sort()).toEqual(
      recipients
        .filter((r) => r.address.startsWith('refuse-'))
        .map((r) => r.address)
        .sort(),
    );
    expect(failed.every((r) => r.smtpCode === 550 && r.reason === 'SMTP_REJECTED')).toBe(true);
    const sentRows = await ledger(created.body.id, 'sent');
    const deferredRows = sentRows.filter((r) => r.address.startsWith('defer-'));
    expect(deferredRows.length).toBeGreaterThan(0);
    // Deferred once, sent at the second attempt; the message on the dropped connection may be
    // one of them, with one attempt more.
    const extra = deferredRows.filter((r) => r.attempts !== 2);
    expect(extra.length, JSON.stringify(extra)).toBeLessThanOrEqual(1);
    expect(extra.every((r) => r.attempts === 3)).toBe(true);

    // Each accepted message went to one recipient; none twice (the dropped one was not accepted).
    const delivered = sink.messages.map((m) => m.to[0]);
    expect(new Set(delivered).size).toBe(delivered.length);
    expect(delivered.length).toBe(count - refused);
    const first = sink.messages.find((m) => m.to[0] === 'member-1@example.org');
    expect(first?.raw.toString()).toContain('Bonjour Member 1, Les Amis du V');
    expect(headerValue(first?.raw as Buffer, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
  }, 240_000);

  it('exports the ledger as CSV, one line per row, and filters it by state', async () => {
    const created = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: {
        name: 'Export',
        subject: 'Hello',
        text: 'Hi',
        recipients: [
          { address: 'a@example.org' },
          { address: 'b@example.org' },
          { address: '"Quote, Inc" <c@example.org>' },
          { address: 'A@Example.org' },
        ],
        start: 'now',
      },
    });
    expect(created.body.recipients).toEqual({ given: 4, written: 3, duplicates: 1 });
    await finished(created.body.id);
    const response = await fetch(`${app.url}/api/campaigns/${created.body.id}/recipients.csv`, {
      headers: { authorization: `Bearer ${app.key}` },
    });
    expect(response.headers.get('content-type')).toContain('text/csv');
    const lines = (await response.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'address,name,state,reason,detail,smtp_code,message_id,transport,attempts,settled_at',
    );
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^c@example\.org,"Quote, Inc",sent,/);
    const none = await fetch(`${app.url}/api/campaigns/${created.body.id}/recipients.csv?state=failed`, {
      headers: { authorization: `Bearer ${app.key}` },
    });
    expect((await none.text()).trim().split('\r\n')).toHaveLength(1);
  });

  it('pauses, resumes and retries only the failed rows', async () => {
    let refuse = true;
    sink.onRcpt(({ address }) =>
      refuse && address.startsWith('later-')
        ? { kind: 'reply', code: 550, message: '5.7.1 blocked for now' }
        : 'accept',
    );
    const recipients = Array.from({ length: 120 }, (_, i) => ({
      address: i % 10 === 0 ? `later-${i}@example.org` : `p-${i}@example.org`,
    }));
    const created = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: { name: 'Control', subject: 'Hi', text: 'Hi {{ email }}', recipients },
    });
    expect(created.body.status).toBe('draft');
    expect((await app.request('POST', `/api/campaigns/${created.body.id}/resume`)).status).toBe(409);
    expect(
      (await app.request<CampaignView>('POST', `/api/campaigns/${created.body.id}/start`)).body.status,
    ).toBe('running');
    const paused = await app.request<CampaignView>('POST', `/api/campaigns/${created.body.id}/pause`);
    expect(paused.body.status).toBe('paused');
    // Paused: at most the window (50) is handed over; the rest stays queued.
    await new Promise((r) => setTimeout(r, 300));
    const during = await app.request<CampaignView>('GET', `/api/campaigns/${created.body.id}`);
    expect(during.body.progress.counts.queued).toBeGreaterThanOrEqual(120 - 50);
    await app.request('POST', `/api/campaigns/${created.body.id}/resume`);
    const done = await finished(created.body.id);
    expect(done.progress.counts).toMatchObject({ sent: 108, failed: 12 });

    refuse = false;
    const retried = await app.request<CampaignView & { requeued: number }>(
      'POST',
      `/api/campaigns/${created.body.id}/retry-failed`,
    );
    expect(retried.body.requeued).toBe(12);
    const again = await finished(created.body.id);
    expect(again.progress.counts).toMatchObject({ sent: 120, failed: 0 });
    const later = sink.messages.filter((m) => m.to[0]?.startsWith('later-'));
    expect(later).toHaveLength(12);
    expect(sink.messages.filter((m) => m.to[0]?.startsWith('p-'))).toHaveLength(108);
  });

  it('one-click unsubscribe puts the address on the suppression list; a later campaign skips it', async () => {
    const created = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: {
        name: 'News',
        subject: 'News',
        html: '<p>Hi</p><a href="{{ unsubscribe_url }}">stop</a>',
        recipients: [{ address: 'leaver@example.org' }],
        start: 'now',
      },
    });
    await finished(created.body.id);
    const raw = sink.messages.find((m) => m.to[0] === 'leaver@example.org')?.raw as Buffer;
    const link = /<([^>]+)>/.exec(headerValue(raw, 'list-unsubscribe') ?? '')?.[1] as string;
    expect(link).toMatch(/\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{32}$/);
    // A scanner's GET shows the button and changes nothing.
    const page = await fetch(link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post">');
    const before = await app.request<{ suppressions: unknown[] }>('GET', '/api/suppressions');
    expect(JSON.stringify(before.body)).not.toContain('leaver@example.org');
    // A tampered token is refused (its last character changed: one in 64 already ends in x).
    const tampered = `${link.slice(0, -1)}${link.endsWith('x') ? 'y' : 'x'}`;
    expect((await fetch(tampered, { method: 'POST' })).status).toBe(404);
    const posted = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(posted.status).toBe(200);
    const after = await app.request<{
      suppressions: Array<{ address: string; reason: string; source: string }>;
    }>('GET', '/api/suppressions');
    expect(after.body.suppressions).toContainEqual(
      expect.objectContaining({
        address: 'leaver@example.org',
        reason: 'unsubscribed',
        source: 'unsubscribe',
      }),
    );

    const next = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: {
        name: 'News 2',
        subject: 'News',
        text: 'Hi',
        recipients: [{ address: 'leaver@example.org' }, { address: 'stayer@example.org' }],
        start: 'now',
      },
    });
    const done = await finished(next.body.id);
    expect(done.progress.counts).toMatchObject({ sent: 1, skipped: 1 });
    const skipped = await ledger(next.body.id, 'skipped');
    expect(skipped).toEqual([
      expect.objectContaining({
        address: 'leaver@example.org',
        reason: 'suppressed',
        detail: 'unsubscribed (unsubscribe)',
      }),
    ]);
  });

  it('refuses bad input naming the field, and replays an idempotent create', async () => {
    const bad = await app.request<{ error: { code: string; details: Array<{ field: string }> } }>(
      'POST',
      '/api/campaigns',
      {
        body: { name: 'Bad', subject: 'Hi {{ name', text: 'x', recipients: [{ address: 'ok@example.org' }] },
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d) => d.field)).toContain('subject');
    const badAddress = await app.request<{ error: { details: Array<{ field: string; message: string }> } }>(
      'POST',
      '/api/campaigns',
      {
        body: {
          name: 'Bad',
          subject: 'Hi',
          text: 'x',
          recipients: [{ address: 'ok@example.org' }, { address: 'not an address' }],
        },
      },
    );
    expect(badAddress.status).toBe(400);
    expect(badAddress.body.error.details[0]?.field).toBe('recipients.1.address');
    const none = await app.request<{ error: { details: Array<{ field: string }> } }>(
      'POST',
      '/api/campaigns',
      {
        body: { name: 'Empty', subject: 'Hi', text: 'x' },
      },
    );
    expect(none.body.error.details[0]?.field).toBe('recipients');

    const body = { name: 'Once', subject: 'Hi', text: 'x', recipients: [{ address: 'once@example.org' }] };
    const first = await app.request<CampaignView>('POST', '/api/campaigns', {
      body,
      headers: { 'idempotency-key': 'k1' },
    });
    const second = await app.request<CampaignView>('POST', '/api/campaigns', {
      body,
      headers: { 'idempotency-key': 'k1' },
    });
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body.id).toBe(first.body.id);
    const conflict = await app.request<{ error: { code: string } }>('POST', '/api/campaigns', {
      body: { ...body, subject: 'Other' },
      headers: { 'idempotency-key': 'k1' },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('streams progress over SSE to the end, then announces it to endpoints and emails the owner', async () => {
    const endpoint = await app.request('POST', '/api/endpoints', {
      body: {
        name: 'campaign events',
        url: `${receiver.url}/hook`,
        eventTypes: ['facteur.campaign.finished'],
      },
    });
    expect(endpoint.status).toBe(201);
    const created = await app.request<CampaignView>('POST', '/api/campaigns', {
      body: {
        name: 'Streamed',
        subject: 'Hi',
        text: 'Hi',
        ownerEmail: 'secretary@example.org',
        recipients: Array.from({ length: 30 }, (_, i) => ({ address: `s${i}@example.org` })),
      },
    });
    const stream = await fetch(`${app.url}/api/campaigns/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${app.key}` },
    });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    await app.request('POST', `/api/campaigns/${created.body.id}/start`);
    const text = await stream.text(); // the server ends the stream after `end`
    const events = text
      .split('\n\n')
      .filter((block) => block.startsWith('event:'))
      .map((block) => ({
        event: /^event: (.+)$/m.exec(block)?.[1],
        data: JSON.parse(/^data: (.+)$/m.exec(block)?.[1] ?? 'null'),
      }));
    expect(events[0]).toMatchObject({ event: 'progress', data: { status: 'draft' } });
    expect(events.at(-2)).toMatchObject({
      event: 'progress',
      data: { status: 'finished', progress: { done: 30 } },
    });
    expect(events.at(-1)).toEqual({ event: 'end', data: { status: 'finished' } });

    const [hook] = await receiver.waitForRequests(1, 10_000);
    const payload = JSON.parse(hook?.body.toString() ?? '{}');
    expect(JSON.stringify(payload)).toContain('facteur.campaign.finished');
    expect(JSON.stringify(payload)).toContain('"sent":30');
    const owner = await sink.waitForMessages(31, 10_000);
    const report = owner.find((m) => m.to[0] === 'secretary@example.org');
    expect(report?.subject).toBe('[Facteur] Campaign Streamed finished');
    expect(report?.raw.toString()).toContain('sent: 30');
  });
});
