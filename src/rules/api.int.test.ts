import { describe, expect, it, vi } from 'vitest';
import { countRows, databaseSkipReason } from '../../test/support/database.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';

/**
 * Rules through the API: validation naming each bad field (regexes RE2 cannot run, unknown
 * endpoints), order, patches, settings, and the backtest, which says what a candidate rule set
 * would have done with the ledger's recent messages and sends nothing.
 */

const skip = await databaseSkipReason();

function raw(n: number, subject: string, from: string, text: string): string {
  return [
    `From: ${from}`,
    'To: inbox@example.com',
    `Subject: ${subject}`,
    `Message-ID: <bt-${n}@example.org>`,
    'Date: Tue, 24 Nov 2026 09:00:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '',
  ].join('\r\n');
}

describe.skipIf(skip)('rules API', () => {
  const suite = useWebhookSuite();

  it('refuses rules naming each bad field', async () => {
    const answer = await suite.app.request<Json>('POST', '/api/rules', {
      body: {
        name: 'bad',
        when: {
          all: [
            { field: 'subject', operator: 'regex', value: '(a)\\1' },
            { field: 'header', operator: 'contains', value: 'x' },
            { field: 'to', operator: 'in' },
          ],
        },
        actions: [{ type: 'webhook', endpoints: ['no-such-endpoint'] }],
      },
    });
    expect(answer.status).toBe(400);
    const fields = (answer.body.error.details as Json[]).map((d) => d.field);
    expect(fields).toEqual(
      expect.arrayContaining(['when.all[0].value', 'when.all[1].header', 'when.all[2].values']),
    );

    const unknownEndpoint = await suite.app.request<Json>('POST', '/api/rules', {
      body: { name: 'ghost', actions: [{ type: 'webhook', endpoints: ['no-such-endpoint'] }] },
    });
    expect(unknownEndpoint.status).toBe(400);
    expect(unknownEndpoint.body.error.details).toEqual([
      expect.objectContaining({
        field: 'actions[0].endpoints[0]',
        message: 'no endpoint has the id no-such-endpoint',
      }),
    ]);
    const badDefault = await suite.app.request<Json>('PUT', '/api/rules/settings', {
      body: { defaultActions: [{ type: 'webhook', endpoints: ['no-such-endpoint'] }] },
    });
    expect(badDefault.status).toBe(400);
    expect(badDefault.body.error.details).toEqual([
      expect.objectContaining({ field: 'defaultActions[0].endpoints[0]' }),
    ]);
  });

  it('keeps rules in order, reorders, patches and deletes them', async () => {
    const names = ['first', 'second', 'third'];
    const ids: string[] = [];
    for (const name of names) {
      const created = await suite.app.request<Json>('POST', '/api/rules', {
        body: { name, stopProcessing: true, actions: [{ type: 'tag', tags: [name] }] },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids.push(created.body.id);
    }
    const reordered = await suite.app.request<Json>('PUT', '/api/rules/order', {
      body: { ids: [ids[2], ids[0], ids[1]] },
    });
    expect(reordered.status).toBe(200);
    expect((reordered.body.rules as Json[]).map((r) => r.name)).toEqual(['third', 'first', 'second']);
    const incomplete = await suite.app.request<Json>('PUT', '/api/rules/order', { body: { ids: [ids[0]] } });
    expect(incomplete.status).toBe(400);
    expect(incomplete.body.error.details[0].message).toMatch(/missing/);
    const patched = await suite.app.request<Json>('PATCH', `/api/rules/${ids[0]}`, {
      body: { priority: 'high' },
    });
    expect(patched.body).toMatchObject({ name: 'first', priority: 'high', stopProcessing: true });
    for (const id of ids) expect((await suite.app.request('DELETE', `/api/rules/${id}`)).status).toBe(204);
    expect((await suite.app.request<Json>('GET', '/api/rules')).body.rules).toEqual([]);
  });

  it('backtests a candidate rule set over recent messages without sending anything', async () => {
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    const messages = [
      raw(1, 'Invoice 42', '"Billing" <billing@supplier.example>', 'Please find the invoice.'),
      raw(2, 'Lunch?', '"Bob" <bob@friends.example>', 'Lunch on Friday?'),
      raw(3, 'RE: Invoice 42', '"Billing" <billing@supplier.example>', 'Reminder.'),
    ];
    const ids: string[] = [];
    for (const message of messages) {
      const answer = await suite.app.request<Json>('POST', '/api/ingress/raw', {
        body: message,
        headers: { 'content-type': 'message/rfc822' },
      });
      expect(answer.status).toBe(200);
      ids.push(answer.body.id);
    }
    // With no rules, all three end unmatched (or skipped, for the reply).
    await vi.waitFor(
      async () => {
        const page = await suite.app.request<Json>('GET', '/api/inbound?state=parsed');
        expect(page.body.messages).toEqual([]);
      },
      { timeout: 10_000 },
    );
    const eventsBefore = await countRows(suite.app.facteur.store, 'webhook_deliveries');

    const answer = await suite.app.request<Json>('POST', '/api/rules/backtest', {
      body: {
        last: 10,
        rules: [
          {
            name: 'invoices',
            when: { all: [{ field: 'from.domain', operator: 'domainIs', value: 'supplier.example' }] },
            actions: [{ type: 'webhook', endpoints: [endpoint.id] }],
          },
        ],
      },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const byId = new Map((answer.body.results as Json[]).map((r) => [r.id, r]));
    expect(byId.get(ids[0])).toMatchObject({
      outcome: 'matched',
      matchedRules: [expect.objectContaining({ name: 'invoices' })],
      would: [expect.objectContaining({ kind: 'webhook', endpointId: endpoint.id, endpointExists: true })],
    });
    expect(byId.get(ids[0])?.would[0].payload).toMatchObject({
      subject: 'Invoice 42',
      sender_email: 'billing@supplier.example',
    });
    expect(byId.get(ids[1])).toMatchObject({ outcome: 'unmatched', would: [] });
    expect(byId.get(ids[2])).toMatchObject({ outcome: 'skipped', skipReason: 'reply_or_forward' });
    expect(byId.get(ids[1])?.trace[0].matched).toBe(false);

    // Nothing was published or sent.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await countRows(suite.app.facteur.store, 'webhook_deliveries')).toBe(eventsBefore);
    expect(suite.receiver.requests).toHaveLength(0);
  });
});
