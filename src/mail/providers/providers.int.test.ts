import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../../test/support/database.js';
import { startTestFacteur, type TestFacteur } from '../../../test/support/facteur.js';
import {
  PROVIDER_KINDS,
  type ProviderKind,
  type ProviderServer,
  providerStarters,
  settledMessage,
} from '../../../test/support/providers.js';
import { ManualClock } from '../../core/clock.js';

const skip = await databaseSkipReason();

interface Attempt {
  outcome: string;
  transport: string | null;
  providerMessageId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  accepted: string[] | null;
  rejected: Array<{ address: string; providerCode?: string; permanent?: boolean }> | null;
}
interface Message {
  id: string;
  status: string;
  messageId: string;
  lastError: { code: string; message: string } | null;
  attempts: Attempt[];
}

/** A port nothing listens on (taken, then freed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(skip)('provider API transports', () => {
  let app: TestFacteur | undefined;
  const servers: ProviderServer[] = [];
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const start = async (kind: ProviderKind, options?: Record<string, unknown>) => {
    const server = await (providerStarters[kind] as (o?: Record<string, unknown>) => Promise<ProviderServer>)(
      options,
    );
    servers.push(server);
    return server;
  };
  const send = async (target: TestFacteur, body: Record<string, unknown> = {}) => {
    const answer = await target.request<{ id: string }>('POST', '/api/messages', {
      body: { to: ['Ann <ann@example.com>'], subject: 'Hello', text: 'plain', html: '<p>html</p>', ...body },
    });
    expect(answer.status).toBe(202);
    return answer.body.id;
  };
  const settled = (target: TestFacteur, id: string, check: (m: Message) => boolean) =>
    settledMessage<Message>(target, id, check);
  /**
   * Starts Facteur on a manual clock with one retry 10 s later, sends, and waits for the first
   * attempt to leave the message queued.
   */
  const firstAttemptQueued = async (env: Record<string, string>) => {
    const clock = new ManualClock(Date.now());
    const running = await startTestFacteur({ FACTEUR_SEND_RETRY_SCHEDULE: '10s', ...env }, { clock });
    app = running;
    const id = await send(running);
    const first = await settled(running, id, (m) => m.attempts.length === 1 && m.status === 'queued');
    return { clock, running, id, first };
  };

  it.each(PROVIDER_KINDS)(
    '%s: sends end to end and records the transport and the provider message id',
    async (kind) => {
      const server = await start(kind);
      app = await startTestFacteur({ FACTEUR_TRANSPORTS: server.transportUrl() });
      const id = await send(app, {
        cc: ['cc@example.com'],
        bcc: ['bcc@example.com'],
        replyTo: 'reply@example.com',
        headers: { 'X-Campaign': 'daily' },
      });
      const message = await settled(app, id, (m) => m.status === 'sent');
      expect(server.accepted).toHaveLength(1);
      const accepted = server.accepted[0];
      expect(message.attempts).toHaveLength(1);
      expect(message.attempts[0]).toMatchObject({
        outcome: 'sent',
        transport: kind,
        providerMessageId: accepted?.id,
      });
      expect(message.attempts[0]?.accepted).toEqual(['ann@example.com', 'cc@example.com', 'bcc@example.com']);
      const body = JSON.stringify(accepted?.body);
      expect(body).toContain('ann@example.com');
      expect(body).toContain('bcc@example.com');
      if (kind === 'ses') {
        // The MIME comes from MailComposer: same Message-ID as the message, Bcc not in the headers.
        expect(accepted?.mime).toContain(`Message-ID: ${message.messageId}`);
        expect(accepted?.mime).toContain('X-Campaign: daily');
        expect(accepted?.mime).not.toMatch(/^Bcc:/im);
      } else {
        expect(body).toContain(message.messageId);
        expect(body).toContain('daily');
      }
      const ready = await app.request<{ checks: Record<string, { status: string }> }>('GET', '/readyz', {
        auth: false,
      });
      expect(ready.body.checks[`transport:${kind}`]?.status).toBe('ok');
    },
  );

  it.each(PROVIDER_KINDS)(
    '%s: an invalid recipient fails the message for good with the provider reason',
    async (kind) => {
      const server = await start(kind);
      server.script('invalid_recipient');
      app = await startTestFacteur({ FACTEUR_TRANSPORTS: server.transportUrl() });
      const id = await send(app);
      const message = await settled(app, id, (m) => m.status === 'failed');
      expect(message.attempts).toHaveLength(1);
      expect(message.attempts[0]).toMatchObject({
        outcome: 'permanent_failure',
        transport: kind,
        errorCode: 'PROVIDER_REJECTED',
      });
      expect(message.lastError?.message).toMatch(new RegExp(kind));
      expect(server.accepted).toHaveLength(0);
    },
  );

  it.each(PROVIDER_KINDS)('%s: a 429 is retried and the retry goes through', async (kind) => {
    const server = await start(kind);
    server.script('rate_limited');
    const { clock, running, id, first } = await firstAttemptQueued({
      FACTEUR_TRANSPORTS: server.transportUrl(),
    });
    expect(first.attempts[0]).toMatchObject({
      outcome: 'transient_failure',
      errorCode: 'PROVIDER_RATE_LIMITED',
    });
    expect(server.accepted).toHaveLength(0);
    clock.advance(11_000);
    const message = await settled(running, id, (m) => m.status === 'sent');
    expect(message.attempts.map((a) => a.outcome)).toEqual(['transient_failure', 'sent']);
    expect(server.accepted).toHaveLength(1);
  });

  it('a refused key fails at once and says which setting to fix, without the key', async () => {
    const postmark = await start('postmark');
    const ses = await start('ses');
    app = await startTestFacteur({
      FACTEUR_TRANSPORTS: postmark.transportUrl({ key: 'wrong-token' }),
    });
    const id = await send(app);
    const message = await settled(app, id, (m) => m.status === 'failed');
    expect(message.attempts[0]).toMatchObject({ outcome: 'permanent_failure', errorCode: 'PROVIDER_AUTH' });
    expect(message.lastError?.message).toMatch(/FACTEUR_TRANSPORTS/);
    expect(JSON.stringify(message)).not.toContain('wrong-token');
    await app.close();
    // SES: a signature made with another secret is refused with the documented 403.
    app = await startTestFacteur({ FACTEUR_TRANSPORTS: ses.transportUrl({ key: 'not-the-secret' }) });
    const sesId = await send(app);
    const sesMessage = await settled(app, sesId, (m) => m.status === 'failed');
    expect(sesMessage.attempts[0]).toMatchObject({ errorCode: 'PROVIDER_AUTH' });
    expect(sesMessage.lastError?.message).toMatch(/InvalidSignatureException/);
    expect(ses.accepted).toHaveLength(0);
  });

  it('postmark: an inactive recipient among several is a refused recipient, the others get it', async () => {
    const server = await start('postmark', { inactive: ['gone@example.com'] });
    app = await startTestFacteur({ FACTEUR_TRANSPORTS: server.transportUrl() });
    const id = await send(app, { to: ['ok@example.com', 'gone@example.com'] });
    const message = await settled(app, id, (m) => m.status === 'sent');
    expect(message.attempts[0]?.accepted).toEqual(['ok@example.com']);
    expect(message.attempts[0]?.rejected).toEqual([
      expect.objectContaining({ address: 'gone@example.com', providerCode: 'postmark:406', permanent: true }),
    ]);
  });

  it('fails over: a 503 from the first sends through the second in the same attempt', async () => {
    const postmark = await start('postmark');
    const sendgrid = await start('sendgrid');
    postmark.script('unavailable');
    app = await startTestFacteur({
      FACTEUR_TRANSPORTS: `${postmark.transportUrl()},${sendgrid.transportUrl()}`,
    });
    const id = await send(app);
    const message = await settled(app, id, (m) => m.status === 'sent');
    expect(postmark.received).toBe(1);
    expect(postmark.accepted).toHaveLength(0);
    expect(sendgrid.accepted).toHaveLength(1);
    expect(message.attempts).toHaveLength(1);
    expect(message.attempts[0]).toMatchObject({
      outcome: 'sent',
      transport: 'sendgrid',
      providerMessageId: sendgrid.accepted[0]?.id,
    });
    const metrics = (await app.request<string>('GET', '/metrics', { auth: false })).body;
    expect(metrics).toMatch(
      /facteur_transport_sends_total\{transport="postmark",outcome="PROVIDER_UNAVAILABLE"\} 1/,
    );
    expect(metrics).toMatch(/facteur_transport_sends_total\{transport="sendgrid",outcome="ok"\} 1/);
    const ready = await app.request<{ checks: Record<string, unknown> }>('GET', '/readyz', { auth: false });
    expect(Object.keys(ready.body.checks)).toEqual(
      expect.arrayContaining(['transport:postmark', 'transport:sendgrid']),
    );
  });

  it('fails over: an unreachable first transport hands the message to the second', async () => {
    const mailgun = await start('mailgun');
    const port = await closedPort();
    app = await startTestFacteur({
      FACTEUR_TRANSPORTS: `postmark://token@api.postmarkapp.com?api_base=http://127.0.0.1:${port},${mailgun.transportUrl()}`,
    });
    const id = await send(app);
    const message = await settled(app, id, (m) => m.status === 'sent');
    expect(mailgun.accepted).toHaveLength(1);
    expect(message.attempts[0]).toMatchObject({
      transport: 'mailgun',
      providerMessageId: mailgun.accepted[0]?.id,
    });
  });

  it('an ambiguous timeout on the first is retried later, never sent through the second in the same run', async () => {
    const postmark = await start('postmark');
    const sendgrid = await start('sendgrid');
    postmark.script('hang');
    const { clock, running, id, first } = await firstAttemptQueued({
      FACTEUR_TRANSPORTS: `${postmark.transportUrl()},${sendgrid.transportUrl()}`,
      FACTEUR_SMTP_SEND_TIMEOUT: '500ms',
    });
    expect(first.attempts[0]).toMatchObject({
      outcome: 'transient_failure',
      transport: 'postmark',
      errorCode: 'PROVIDER_TIMEOUT',
    });
    expect(first.attempts[0]?.errorMessage).toMatch(/may have taken/);
    expect(sendgrid.received).toBe(0);
    clock.advance(11_000);
    const message = await settled(running, id, (m) => m.status === 'sent');
    expect(message.attempts.map((a) => a.transport)).toEqual(['postmark', 'postmark']);
    expect(postmark.accepted).toHaveLength(1);
    expect(sendgrid.received).toBe(0);
  });

  it('a reset after the request was sent is ambiguous too: no failover in the same run', async () => {
    const ses = await start('ses');
    const sendgrid = await start('sendgrid');
    ses.script('reset');
    app = await startTestFacteur({ FACTEUR_TRANSPORTS: `${ses.transportUrl()},${sendgrid.transportUrl()}` });
    const id = await send(app);
    const first = await settled(app, id, (m) => m.attempts[0]?.outcome === 'transient_failure');
    expect(first.attempts[0]).toMatchObject({
      outcome: 'transient_failure',
      transport: 'ses',
      errorCode: 'PROVIDER_TIMEOUT',
    });
    expect(sendgrid.received).toBe(0);
  });
});
