import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';

/**
 * The SSRF guard through the API: private targets are refused when an endpoint is saved, with
 * the rule named, and again at connection time, so a name that later resolves to loopback
 * (DNS rebinding) reaches nothing. `allowPrivateTargets` lets on-premise receivers through.
 */

const skip = await databaseSkipReason();

/** Answers a public address for the first lookup of `rebind.test`, loopback afterwards. */
function rebindingLookup(): LookupFunction {
  let calls = 0;
  return (hostname, options, callback) => {
    const address =
      hostname === 'rebind.test' && calls++ > 0
        ? '127.0.0.1'
        : hostname === 'rebind.test'
          ? '93.184.216.34'
          : '127.0.0.1';
    if (options.all) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  };
}

describe.skipIf(skip)('SSRF guard on webhook endpoints', () => {
  const suite = useWebhookSuite({}, { lookup: rebindingLookup() });

  it.each([
    ['http://127.0.0.1:9/hook', 'loopback'],
    ['http://10.0.0.1/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'metadata'],
    ['http://[::1]:9/hook', 'loopback'],
    ['http://localhost:9/hook', 'loopback'],
  ])('refuses %s on save, naming the %s rule', async (url, rule) => {
    const answer = await suite.app.request<Json>('POST', '/api/endpoints', { body: { name: 'x', url } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('WEBHOOK_TARGET_FORBIDDEN');
    expect(answer.body.error.details.rule).toBe(rule);
    expect(answer.body.error.message).toContain(rule);
    expect(answer.body.error.message).toContain('allowPrivateTargets');
  });

  it('refuses a name that resolves to loopback at connection time (DNS rebinding)', async () => {
    const endpoint = await suite.api.createEndpoint({
      url: `http://rebind.test:${suite.receiver.port}/hook`,
      allowPrivateTargets: false,
      eventTypes: ['rebind.*'],
    });
    const event = await suite.api.publish('rebind.now');
    const d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('failed'));
    expect(d.attempts[0]).toMatchObject({ errorCode: 'WEBHOOK_TARGET_FORBIDDEN', statusCode: null });
    expect(d.attempts[0].errorMessage).toContain('loopback');
    expect(suite.receiver.requests).toHaveLength(0);
    // The same endpoint, told private targets are allowed, reaches the suite.receiver.
    const patched = await suite.app.request<Json>('PATCH', `/api/endpoints/${endpoint.id}`, {
      body: { allowPrivateTargets: true },
    });
    expect(patched.status).toBe(200);
    await suite.app.request('POST', `/api/deliveries/${d.id}/replay`);
    await suite.api.waitForDelivery(d.id, (x) => expect(x.status).toBe('succeeded'));
    expect(suite.receiver.requests).toHaveLength(1);
  });

  it('rejects bad settings with every field named', async () => {
    const answer = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: {
        name: '',
        url: 'ftp://example.com',
        timeZone: 'Mars/Olympus',
        timeWindow: { start: '25:00', end: '06:00' },
        absenceWeekdays: ['funday'],
        retrySchedule: ['5 minutes'],
        format: 'xml',
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    const fields = answer.body.error.details.map((d: Json) => d.field).sort();
    expect(fields).toEqual([
      'absenceWeekdays[0]',
      'format',
      'name',
      'retrySchedule[0]',
      'timeWindow.start',
      'timeZone',
      'url',
    ]);
  });

  it('normalises Make.com tokens', async () => {
    const bare = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: { name: 'make', url: 'abcdefghijklmnopqrstuvwxyz123456', allowPrivateTargets: true },
    });
    expect(bare.status, JSON.stringify(bare.body)).toBe(201);
    expect(bare.body.url).toBe('https://hook.eu2.make.com/abcdefghijklmnopqrstuvwxyz123456');
    const withHost = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: {
        name: 'make',
        url: 'abcdefghijklmnopqrstuvwxyz123456@hook.us1.make.com',
        allowPrivateTargets: true,
      },
    });
    expect(withHost.body.url).toBe('https://hook.us1.make.com/abcdefghijklmnopqrstuvwxyz123456');
  });
});
