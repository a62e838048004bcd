import { describe, expect, it, vi } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';
import { ManualClock } from '../core/clock.js';

/**
 * HTTP ingestion end to end: the Gmail Apps Script push and raw RFC 822 posts go into the
 * ledger before the answer, run through the rules, and raise webhook deliveries; a repeated
 * push is recorded as a duplicate and handled once.
 */

const skip = await databaseSkipReason();

const desaboBody =
  '<p>Bonjour, merci de procéder au désabonnement pour la journée aux tarifs habituels.</p>' +
  '<p>Lien : <a href="https://www.dropbox.com/request/abc123">déposer</a></p>';

describe.skipIf(skip)('HTTP ingestion', () => {
  // Tuesday 2026-11-24 10:00 in Paris (09:00 UTC)
  const clock = new ManualClock(Date.UTC(2026, 10, 24, 9, 0, 0));
  const suite = useWebhookSuite({}, { clock });

  async function ledger(id: string): Promise<Json> {
    const answer = await suite.app.request<Json>('GET', `/api/inbound/${id}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  it('records a pushed DESABO message before answering, then delivers the compatibility payload once', async () => {
    const endpoint = await suite.api.createEndpoint({
      eventTypes: ['inbound.*'],
      timeWindow: { start: '09:00', end: '18:00' },
      timeZone: 'Europe/Paris',
    });
    const rule = await suite.app.request<Json>('POST', '/api/rules', {
      body: {
        name: 'désabonnements',
        preset: 'desabo',
        actions: [{ type: 'webhook', endpoints: [endpoint.id] }],
      },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);

    const push = {
      subject: 'Demande de désabonnement',
      sender: 'Marie Dupont <Marie.Dupont@Example.com>',
      date: '2026-11-24T08:59:00Z',
      body: desaboBody,
      snippet: 'Bonjour, merci',
    };
    const first = await suite.app.request<Json>('POST', '/api/ingress/gmail', { body: push });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ state: 'parsed', duplicateOf: null });

    const [request] = await suite.receiver.waitForRequests(1);
    if (!request) throw new Error('no request received');
    const payload = (request.json() as Json).data as Json;
    expect(payload).toMatchObject({
      email_id: first.body.id,
      subject: 'Demande de désabonnement',
      sender_email: 'marie.dupont@example.com',
      source: 'gmail',
      detector: 'desabonnement_journee_tarifs',
      webhooks_time_start: 'maintenant',
      webhooks_time_end: '18h00',
      routing_rule: { id: rule.body.id, name: 'désabonnements', priority: 'normal' },
    });
    expect(payload.delivery_links).toEqual([
      expect.objectContaining({ provider: 'dropbox', raw_url: 'https://www.dropbox.com/request/abc123' }),
    ]);
    await vi.waitFor(async () => expect((await ledger(first.body.id)).state).toBe('delivered'), {
      timeout: 10_000,
    });
    const row = await ledger(first.body.id);
    expect(row.deliveries).toEqual([
      expect.objectContaining({ endpointId: endpoint.id, status: 'succeeded' }),
    ]);
    expect(row.matchedRules).toEqual([expect.objectContaining({ id: rule.body.id })]);

    // The script did not see the 200 and sends the same message again: recorded, not handled.
    const again = await suite.app.request<Json>('POST', '/api/ingress/gmail', { body: push });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ state: 'skipped', duplicateOf: first.body.id });
    expect((await ledger(again.body.id)).skipReason).toBe('duplicate');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(suite.receiver.requests).toHaveLength(1);
    await suite.app.request('DELETE', `/api/rules/${rule.body.id}`);
  });

  it('answers 400 naming the field when the push lacks its sender or body', async () => {
    const noSender = await suite.app.request<Json>('POST', '/api/ingress/gmail', {
      body: { subject: 'x', body: '<p>x</p>' },
    });
    expect(noSender.status).toBe(400);
    expect(noSender.body.error.details).toEqual([expect.objectContaining({ field: 'sender' })]);
    const notObject = await suite.app.request<Json>('POST', '/api/ingress/gmail', {
      body: '[1,2]',
      headers: { 'content-type': 'application/json' },
    });
    expect(notObject.status).toBe(400);
    const noKey = await suite.app.request<Json>('POST', '/api/ingress/gmail', {
      body: { sender: 'a@b.c', body: 'x' },
      auth: false,
    });
    expect(noKey.status).toBe(401);
  });

  it('takes a raw message/rfc822 body; a message no rule matches is recorded unmatched', async () => {
    const raw = [
      'From: "Jean" <jean@example.org>',
      'To: inbox@example.com',
      'Subject: =?UTF-8?B?UsOpdW5pb24gZGUgbHVuZGk=?=',
      'Message-ID: <raw-1@example.org>',
      'Date: Tue, 24 Nov 2026 09:00:00 +0000',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Bonjour, voici le lien https://example.org/doc.',
      '',
    ].join('\r\n');
    const answer = await suite.app.request<Json>('POST', '/api/ingress/raw', {
      body: raw,
      headers: { 'content-type': 'message/rfc822' },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    await vi.waitFor(async () => expect((await ledger(answer.body.id)).state).toBe('unmatched'), {
      timeout: 10_000,
    });
    const row = await ledger(answer.body.id);
    expect(row).toMatchObject({
      subject: 'Réunion de lundi',
      from: 'jean@example.org',
      messageId: 'raw-1@example.org',
    });
    expect(row.email.links).toEqual(['https://example.org/doc']);

    const empty = await suite.app.request<Json>('POST', '/api/ingress/raw', {
      body: '',
      headers: { 'content-type': 'message/rfc822' },
    });
    expect(empty.status).toBe(400);
  });
});

describe.skipIf(skip)('subject groups and forwards', () => {
  // Monday 2026-11-30 22:00 in Paris: the month ends in two hours (the rules' zone is Paris).
  const clock = new ManualClock(Date.UTC(2026, 10, 30, 21, 0, 0));
  const suite = useWebhookSuite({}, { clock });

  async function ledger(id: string): Promise<Json> {
    const answer = await suite.app.request<Json>('GET', `/api/inbound/${id}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  it('sends one message per subject group and calendar month, and forwards through the outbox', async () => {
    const settings = await suite.app.request<Json>('PUT', '/api/rules/settings', {
      body: { dedupeSubjectGroupPerMonth: true },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
    const endpoint = await suite.api.createEndpoint({ eventTypes: ['inbound.*'] });
    const rule = await suite.app.request<Json>('POST', '/api/rules', {
      body: {
        name: 'reports',
        when: { all: [{ field: 'subject', operator: 'startsWith', value: 'Weekly report' }] },
        actions: [
          { type: 'webhook', endpoints: [endpoint.id] },
          { type: 'forward', to: ['ops@example.com'] },
        ],
      },
    });
    expect(rule.status, JSON.stringify(rule.body)).toBe(201);
    const push = (date: string, body: string) =>
      suite.app.request<Json>('POST', '/api/ingress/gmail', {
        body: { subject: 'Weekly report: sales', sender: 'bot@example.com', date, body },
      });
    const first = await push('2026-11-30T20:00:00Z', '<p>week 48</p>');
    await vi.waitFor(async () => expect((await ledger(first.body.id)).state).toBe('delivered'), {
      timeout: 10_000,
    });
    // Another message of the same group, the same month: recorded, not sent.
    const second = await push('2026-11-30T21:00:00Z', '<p>week 48, again</p>');
    await vi.waitFor(async () => expect((await ledger(second.body.id)).state).toBe('skipped'), {
      timeout: 10_000,
    });
    expect((await ledger(second.body.id)).skipReason).toBe('duplicate_subject_group');
    // Next month the group is new again.
    clock.set(Date.UTC(2026, 10, 30, 23, 30, 0)); // 00:30 on 1 December in Paris
    const third = await push('2026-11-30T23:15:00Z', '<p>week 49</p>');
    await vi.waitFor(async () => expect((await ledger(third.body.id)).state).toBe('delivered'), {
      timeout: 10_000,
    });
    const requests = await suite.receiver.waitForRequests(2);
    expect(requests.map((r) => ((r.json() as Json).data as Json).email_id)).toEqual([
      first.body.id,
      third.body.id,
    ]);

    // The forward went through the outbox to the built-in catcher, once per message sent.
    await vi.waitFor(
      async () => {
        const caught = await suite.app.request<Json>('GET', '/api/catcher/messages');
        const forwards = (caught.body.messages as Json[]).filter(
          (m) => m.subject === 'Fwd: Weekly report: sales',
        );
        expect(forwards).toHaveLength(2);
      },
      { timeout: 10_000 },
    );
    await suite.app.request('DELETE', `/api/rules/${rule.body.id}`);
  });
});
