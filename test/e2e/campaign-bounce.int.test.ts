import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../support/dovecot.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';
import { appendAll, createFolder, dovecotMailbox } from '../support/imap-stream.js';
import { serviceSkipReason } from '../support/services.js';
import { headerValue, type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

/** The DSN a receiving MTA sends back for a message Facteur sent: RFC 3464, with the original headers. */
function dsnFor(address: string, messageId: string): string {
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    'To: bounces@club.example.org',
    'Subject: Undelivered Mail Returned to Sender',
    'Message-ID: <dsn-1@mx.example.net>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    `${address}: user unknown`,
    '--b1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${address}`,
    'Action: failed',
    'Status: 5.1.1',
    `Diagnostic-Code: smtp; 550 5.1.1 <${address}>: Recipient address rejected`,
    '',
    '--b1',
    'Content-Type: text/rfc822-headers',
    '',
    'From: club@example.org',
    `To: ${address}`,
    `Message-ID: ${messageId}`,
    'Subject: AG',
    '',
    '--b1--',
    '',
  ].join('\r\n');
}

/**
 * An abuse report (RFC 5965) as large mailbox providers send it: the recipient redacted from
 * the report and from the returned original, whose Message-ID is all that names the message.
 */
function redactedComplaintFor(messageId: string): string {
  return [
    'From: fbl@isp.example.net',
    'To: bounces@club.example.org',
    'Subject: Abuse report',
    'Message-ID: <arf-1@isp.example.net>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain',
    '',
    'This is an abuse report for a message received from club.example.org.',
    '--b2',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: ISP-FBL/1.0',
    'Version: 1',
    'Arrival-Date: Thu, 26 Nov 2026 08:00:00 +0000',
    '',
    '--b2',
    'Content-Type: text/rfc822-headers',
    '',
    'From: club@example.org',
    'To: redacted',
    `Message-ID: ${messageId}`,
    'Subject: AG',
    '',
    '--b2--',
    '',
  ].join('\r\n');
}

describe.skipIf(skip)('a DSN in the bounce mailbox marks the row bounced and suppresses the address', () => {
  let dovecot: DovecotInstance;
  let sink: SmtpSink;
  let app: TestFacteur;
  beforeAll(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    app = await startTestFacteur({ FACTEUR_SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await app?.close();
    await sink?.close();
    await dovecot?.close();
  });

  it('from the first campaign to the next one, which skips it with the reason', async () => {
    await createFolder(dovecot, 'Bounces');
    const mailbox = await app.request('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, 'Bounces', { purpose: 'bounces' }),
    });
    expect(mailbox.status).toBe(201);
    const first = await app.request<{ id: string }>('POST', '/api/campaigns', {
      body: {
        name: 'AG',
        from: 'club@example.org',
        subject: 'AG',
        text: 'Bonjour',
        recipients: [{ address: 'gone@example.net' }, { address: 'here@example.net' }],
        start: 'now',
      },
    });
    await sink.waitForMessages(2, 20_000);
    const sent = sink.messages.find((m) => m.to[0] === 'gone@example.net');
    const messageId = headerValue(sent?.raw as Buffer, 'message-id') as string;
    await appendAll(dovecot, 'Bounces', [dsnFor('gone@example.net', messageId)]);

    await vi.waitFor(
      async () => {
        const rows = await app.request<{
          recipients: Array<{ address: string; state: string; reason: string; detail: string }>;
        }>('GET', `/api/campaigns/${first.body.id}/recipients?state=bounced`);
        expect(rows.body.recipients).toEqual([
          expect.objectContaining({ address: 'gone@example.net', state: 'bounced', reason: '5.1.1' }),
        ]);
      },
      { timeout: 30_000, interval: 200 },
    );
    const suppressed = await app.request<{
      suppressions: Array<{ address: string; reason: string; source: string }>;
    }>('GET', '/api/suppressions');
    expect(suppressed.body.suppressions).toContainEqual(
      expect.objectContaining({ address: 'gone@example.net', reason: 'hard_bounce', source: 'dsn' }),
    );

    const next = await app.request<{ id: string }>('POST', '/api/campaigns', {
      body: {
        name: 'AG 2',
        subject: 'AG',
        text: 'Bonjour',
        recipients: [{ address: 'gone@example.net' }, { address: 'here@example.net' }],
        start: 'now',
      },
    });
    await vi.waitFor(
      async () => {
        const got = await app.request<{ status: string; progress: { counts: Record<string, number> } }>(
          'GET',
          `/api/campaigns/${next.body.id}`,
        );
        expect(got.body.status).toBe('finished');
        expect(got.body.progress.counts).toMatchObject({ sent: 1, skipped: 1 });
      },
      { timeout: 20_000, interval: 100 },
    );
    const skipped = await app.request<{
      recipients: Array<{ address: string; reason: string; detail: string }>;
    }>('GET', `/api/campaigns/${next.body.id}/recipients?state=skipped`);
    expect(skipped.body.recipients).toEqual([
      expect.objectContaining({
        address: 'gone@example.net',
        reason: 'suppressed',
        detail: 'hard_bounce (dsn)',
      }),
    ]);
  }, 60_000);

  it('a complaint whose recipient is redacted suppresses the recipient its Message-ID names', async () => {
    const campaign = await app.request<{ id: string }>('POST', '/api/campaigns', {
      body: {
        name: 'AG 3',
        from: 'club@example.org',
        subject: 'AG',
        text: 'Bonjour',
        recipients: [{ address: 'complainer@example.net' }],
        start: 'now',
      },
    });
    expect(campaign.status).toBe(201);
    await vi.waitFor(
      () => expect(sink.messages.some((m) => m.to[0] === 'complainer@example.net')).toBe(true),
      {
        timeout: 20_000,
      },
    );
    const sent = sink.messages.find((m) => m.to[0] === 'complainer@example.net');
    await appendAll(dovecot, 'Bounces', [
      redactedComplaintFor(headerValue(sent?.raw as Buffer, 'message-id') as string),
    ]);
    await vi.waitFor(
      async () => {
        const suppressed = await app.request<{
          suppressions: Array<{ address: string; reason: string; source: string }>;
        }>('GET', '/api/suppressions');
        expect(suppressed.body.suppressions).toContainEqual(
          expect.objectContaining({ address: 'complainer@example.net', reason: 'complaint', source: 'arf' }),
        );
      },
      { timeout: 30_000, interval: 200 },
    );
  }, 60_000);
});
