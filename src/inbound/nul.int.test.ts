import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { createFolder, deleteRulesAndMailboxes, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * Real mail holds NUL bytes. On both databases a message with NULs in its headers and body,
 * pushed over HTTP or read from Dovecot, is recorded once with U+FFFD in place of each NUL and
 * `replaced` naming the fields, and routed; the watcher goes on to the next message. (On
 * PostgreSQL the parsed NUL used to fail the insert: the push got a 500 and was sent again
 * forever.)
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

/** An encoded word whose UTF-16BE bytes hold a high surrogate with no low one after it. */
const LONE_SURROGATE_WORD = `=?utf-16be?B?${Buffer.from([0xd8, 0x00, 0x00, 0x41]).toString('base64')}?=`;

function nulMessage(tag: string): Buffer {
  return Buffer.from(
    [
      'From: "Null\u0000Sender" <nul@example.org>',
      'To: inbox@example.com',
      `Subject: report\u0000${tag}`,
      'X-Odd: \u0000',
      // Pure ASCII, so it reaches Facteur from Dovecot as written: decoded, it is `\uD800A`.
      `X-Broken: ${LONE_SURROGATE_WORD}`,
      `Message-ID: <nul-${tag}@example.org>`,
      'Date: Tue, 24 Nov 2026 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Line one\u0000 of ${tag}.`,
      '',
    ].join('\r\n'),
    'utf8',
  );
}

function cleanMessage(tag: string): string {
  return [
    'From: "Shop" <shop@example.org>',
    'To: inbox@example.com',
    `Subject: clean ${tag}`,
    `Message-ID: <clean-${tag}@example.org>`,
    'Date: Tue, 24 Nov 2026 09:00:00 +0000',
    '',
    'Nothing odd here.',
    '',
  ].join('\r\n');
}

/** NUL and unpaired surrogates as JSON.stringify writes them. */
const FORBIDDEN_IN_JSON = /\\u0000|\\ud[89ab][0-9a-f]{2}|\\ud[c-f][0-9a-f]{2}/i;

describe.skipIf(skip)('mail with NUL bytes', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 9, 0, 0));
  const suite = useWebhookSuite({}, { clock });
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot?.close();
  });
  afterEach(() => deleteRulesAndMailboxes(suite.app));

  async function routeAllTo(): Promise<void> {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    const rule = await suite.app.request<Json>('POST', '/api/rules', {
      body: { name: 'everything', actions: [{ type: 'webhook', endpoints: [endpoint.id] }] },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
  }

  function expectReplaced(email: Json, tag: string): void {
    expect(email.subject).toBe(`report\ufffd${tag}`);
    expect(email.text).toContain('Line one\ufffd of');
    expect(email.headers['x-odd']).toEqual(['\ufffd']);
    expect(email.headers['x-broken']).toEqual(['\ufffdA']);
    // The address parser drops control characters from display names; the header keeps them.
    expect(email.from).toEqual({ address: 'nul@example.org', name: 'NullSender' });
    expect(email.sender).toBe('"Null\ufffdSender" <nul@example.org>');
    expect(email.replaced).toEqual(
      expect.arrayContaining([
        'subject',
        'sender',
        'headers.subject',
        'headers.x-odd',
        'headers.x-broken',
        'text',
      ]),
    );
    expect(JSON.stringify(email)).not.toMatch(FORBIDDEN_IN_JSON);
  }

  it('records a pushed raw message once, with the NULs replaced and listed, and routes it', async () => {
    await routeAllTo();
    const raw = nulMessage('http');
    const push = () =>
      suite.app.request<Json>('POST', '/api/ingress/raw', {
        body: raw.toString('utf8'),
        headers: { 'content-type': 'message/rfc822' },
      });
    const first = await push();
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.duplicateOf).toBeNull();
    const again = await push();
    expect(again.status).toBe(200);
    expect(again.body.duplicateOf).toBe(first.body.id);

    expect(again.body.state).toBe('skipped');

    const [request] = await suite.receiver.waitForRequests(1);
    if (!request) throw new Error('no request received');
    expect(request.body.toString('utf8')).not.toMatch(FORBIDDEN_IN_JSON);
    const data = (request.json() as Json).data as Json;
    expect(data.subject).toBe('report\ufffdhttp');
    expect(data.email_content).toContain('Line one\ufffd of');
    expect(data.replaced).toEqual(
      expect.arrayContaining(['subject', 'headers.x-odd', 'headers.x-broken', 'text']),
    );
    await vi.waitFor(
      async () => {
        const row = await suite.app.request<Json>('GET', `/api/inbound/${first.body.id}`);
        expect(row.body.state).toBe('delivered');
      },
      { timeout: 10_000 },
    );
    const row = await suite.app.request<Json>('GET', `/api/inbound/${first.body.id}`);
    expect(row.body.subject).toBe('report\ufffdhttp');
    expect(row.body.from).toBe('nul@example.org');
    expect(row.body.messageId).toBe('nul-http@example.org');
    expectReplaced(row.body.email, 'http');
    // One message, one delivery: the second push is a skipped row pointing at the first.
    const page = await suite.app.request<Json>('GET', '/api/inbound?limit=10');
    expect(page.body.messages.map((m: Json) => [m.state, m.duplicateOf]).sort()).toEqual(
      [
        ['delivered', null],
        ['skipped', first.body.id],
      ].sort(),
    );
    expect(suite.receiver.requests).toHaveLength(1);
  });

  it('records a message it cannot parse with the NULs of its scanned head replaced', async () => {
    // A header over the parser's limit: the row keeps what a quick scan of the head read.
    const raw = Buffer.from(
      `Subject: unparseable\u0000 one\r\nFrom: <odd\u0000@example.org>\r\nMessage-ID: <bad\u0000@example.org>\r\nX-Huge: ${'a'.repeat(1_100_000)}\r\n\r\nbody\r\n`,
      'utf8',
    );
    const answer = await suite.app.request<Json>('POST', '/api/ingress/raw', {
      body: raw.toString('utf8'),
      headers: { 'content-type': 'message/rfc822' },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.state).toBe('fetched');
    const row = await suite.app.request<Json>('GET', `/api/inbound/${answer.body.id}`);
    expect(row.body).toMatchObject({
      state: 'fetched',
      errorCode: 'INBOUND_PARSE_FAILED',
      subject: 'unparseable\ufffd one',
      from: 'odd\ufffd@example.org',
      messageId: 'bad\ufffd@example.org',
      email: null,
    });
  });

  it('reads such a message from Dovecot, records it once, routes it, and goes on to the next', async () => {
    await routeAllTo();
    await createFolder(dovecot, 'Odd');
    const created = await suite.app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, 'Odd'),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await dovecot.append('alice', 'Odd', nulMessage('imap'));
    await dovecot.append('alice', 'Odd', cleanMessage('imap'));

    const requests = await suite.receiver.waitForRequests(2, 20_000);
    const payloads = requests.map((r) => (r.json() as Json).data as Json);
    expect(payloads.map((p) => p.subject).sort()).toEqual(['clean imap', 'report\ufffdimap']);
    expect(payloads.find((p) => p.subject === 'clean imap')?.replaced).toEqual([]);
    expect(payloads.find((p) => p.subject !== 'clean imap')?.replaced).toEqual(['headers.x-broken']);
    const page = await suite.app.request<Json>('GET', `/api/inbound?mailbox=${created.body.id}&limit=10`);
    expect(page.body.messages).toHaveLength(2);
    const odd = page.body.messages.find((m: Json) => m.subject === 'report\ufffdimap');
    const detail = await suite.app.request<Json>('GET', `/api/inbound/${odd.id}`);
    // Dovecot stores a NUL it is given over APPEND as another 8-bit byte, which is not UTF-8:
    // what reaches Facteur is already U+FFFD, so `replaced` has nothing to list here. The
    // message is recorded and routed all the same, and nothing of it holds a NUL.
    // The encoded word is ASCII and survives the trip: its unpaired surrogate is replaced here.
    expect(detail.body.email.subject).toBe('report\ufffdimap');
    expect(detail.body.email.headers['x-odd']).toEqual(['\ufffd']);
    expect(detail.body.email.headers['x-broken']).toEqual(['\ufffdA']);
    expect(detail.body.email.replaced).toEqual(['headers.x-broken']);
    expect(JSON.stringify(detail.body)).not.toMatch(FORBIDDEN_IN_JSON);
    await vi.waitFor(
      async () => {
        const states = await suite.app.request<Json>(
          'GET',
          `/api/inbound?mailbox=${created.body.id}&limit=10`,
        );
        expect(states.body.messages.map((m: Json) => m.state)).toEqual(['acknowledged', 'acknowledged']);
      },
      { timeout: 10_000 },
    );
  });

  it('takes an Apps Script push with NUL and unpaired surrogates, replacing and listing them', async () => {
    const push = {
      subject: 'devis\u0000 urgent \ud800',
      sender: 'Marie <marie@example.com>',
      date: '2026-11-24T08:59:00Z',
      body: '<p>Bonjour\u0000</p>',
    };
    const answer = await suite.app.request<Json>('POST', '/api/ingress/gmail', { body: push });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const row = await suite.app.request<Json>('GET', `/api/inbound/${answer.body.id}`);
    expect(row.body.email.subject).toBe('devis\ufffd urgent \ufffd');
    expect(row.body.email.replaced).toEqual(expect.arrayContaining(['subject', 'html', 'text']));
    expect(JSON.stringify(row.body)).not.toMatch(FORBIDDEN_IN_JSON);
  });

  it('documents replaced in the OpenAPI schema of the ledger entry', async () => {
    const openapi = await suite.app.request<Json>('GET', '/openapi.json', { auth: false });
    const entry =
      openapi.body.paths['/api/inbound/{id}'].get.responses['200'].content['application/json'].schema;
    const email = entry.properties.email;
    const fields = email.properties ?? email.anyOf?.find((s: Json) => s.properties)?.properties;
    expect(fields.replaced).toMatchObject({ type: 'array', items: { type: 'string' } });
    expect(fields.truncated).toBeDefined();
  });

  it('refuses an Apps Script sender that is no address, naming the field', async () => {
    for (const sender of ['nobody', 'Marie <not an address>', 'a@', '@b.c']) {
      const answer = await suite.app.request<Json>('POST', '/api/ingress/gmail', {
        body: { subject: 's', sender, body: '<p>x</p>' },
      });
      expect(answer.status, sender).toBe(400);
      expect(answer.body.error.details).toEqual([
        expect.objectContaining({ field: 'sender', message: expect.stringContaining('must be an address') }),
      ]);
    }
  });
});
