import type { LookupFunction } from 'node:net';
import { describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type Json, useWebhookSuite } from '../../test/support/webhooks.js';

/**
 * The SSRF guard through the API: private targets are refused when an endpoint is saved, with
 * the rule named, and again at connection time, so a name that later resolves to loopback
 * (DNS rebinding) reaches nothing. The server's FACTEUR_ALLOW_PRIVATE_TARGETS lets on-premise
 * receivers through, never cloud metadata; the old per-endpoint switch is refused by name.
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
  // The guard as shipped: no private target allowed.
  const suite = useWebhookSuite({ FACTEUR_ALLOW_PRIVATE_TARGETS: 'false' }, { lookup: rebindingLookup() });

  it.each([
    ['http://127.0.0.1:9/hook', 'loopback'],
    ['http://10.0.0.1/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'metadata'],
    ['http://[::1]:9/hook', 'loopback'],
    ['http://[fd00:ec2::254]/latest', 'metadata'],
    ['http://localhost:9/hook', 'loopback'],
  ])('refuses %s on save, naming the %s rule and the field', async (url, rule) => {
    const answer = await suite.app.request<Json>('POST', '/api/endpoints', { body: { name: 'x', url } });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('TARGET_FORBIDDEN');
    expect(answer.body.error.details).toMatchObject({ field: 'url', rule });
    expect(answer.body.error.message).toContain(rule);
    expect(answer.body.error.message).toContain(
      rule === 'metadata' ? 'never allowed' : 'FACTEUR_ALLOW_PRIVATE_TARGETS',
    );
  });

  it('refuses a name that resolves to loopback at connection time (DNS rebinding)', async () => {
    await suite.api.createEndpoint({
      url: `http://rebind.test:${suite.receiver.port}/hook`,
      eventTypes: ['rebind.*'],
    });
    const event = await suite.api.publish('rebind.now');
    const d = await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('failed'));
    expect(d.attempts[0]).toMatchObject({ errorCode: 'TARGET_FORBIDDEN', statusCode: null });
    expect(d.attempts[0].errorMessage).toContain('loopback');
    expect(suite.receiver.requests).toHaveLength(0);
  });

  it('refuses the removed allowPrivateTargets field by name, on create and on patch', async () => {
    const created = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: { name: 'x', url: 'https://example.com/hook', allowPrivateTargets: true },
    });
    expect(created.status).toBe(400);
    expect(created.body.error.code).toBe('VALIDATION_FAILED');
    expect(created.body.error.details).toEqual([
      expect.objectContaining({
        field: 'allowPrivateTargets',
        message: 'was removed; set FACTEUR_ALLOW_PRIVATE_TARGETS on the server instead',
      }),
    ]);
    expect(created.body.error.message).toContain(
      'allowPrivateTargets: was removed; set FACTEUR_ALLOW_PRIVATE_TARGETS on the server instead',
    );
    const endpoint = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: { name: 'public', url: 'https://93.184.216.34/hook' },
    });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    expect(endpoint.body).not.toHaveProperty('allowPrivateTargets');
    const patched = await suite.app.request<Json>('PATCH', `/api/endpoints/${endpoint.body.id}`, {
      body: { allowPrivateTargets: false },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.error.details).toEqual([expect.objectContaining({ field: 'allowPrivateTargets' })]);
  });
});

describe.skipIf(skip)('FACTEUR_ALLOW_PRIVATE_TARGETS', () => {
  describe('true', () => {
    const suite = useWebhookSuite({ FACTEUR_ALLOW_PRIVATE_TARGETS: 'true' });

    it('delivers to a loopback receiver, and still refuses metadata addresses', async () => {
      const endpoint = await suite.api.createEndpoint({ eventTypes: ['local.*'] });
      const event = await suite.api.publish('local.now');
      await suite.api.waitForDelivery(event.deliveries[0].id, (x) => expect(x.status).toBe('succeeded'));
      expect(suite.receiver.requests).toHaveLength(1);
      expect(endpoint.url).toContain('127.0.0.1');
      for (const url of [
        'http://169.254.169.254/',
        'http://[fd00:ec2::254]/',
        'http://[::ffff:169.254.169.254]/',
      ]) {
        const answer = await suite.app.request<Json>('POST', '/api/endpoints', { body: { name: 'm', url } });
        expect([url, answer.status, answer.body.error?.details?.rule]).toEqual([url, 400, 'metadata']);
      }
      const privateOk = await suite.app.request<Json>('POST', '/api/endpoints', {
        body: { name: 'lan', url: 'http://10.0.0.1/hook' },
      });
      expect(privateOk.status).toBe(201);
    });
  });

  describe('a CIDR list', () => {
    const suite = useWebhookSuite({ FACTEUR_ALLOW_PRIVATE_TARGETS: '127.0.0.0/8,fd00::/8' });

    it('allows only its ranges, and never metadata inside them', async () => {
      const event = await suite.api.publish('none.yet');
      expect(event.deliveries).toEqual([]);
      const local = await suite.api.createEndpoint({ eventTypes: ['cidr.*'] });
      expect(local.id).toBeTruthy();
      const lan = await suite.app.request<Json>('POST', '/api/endpoints', {
        body: { name: 'lan', url: 'http://10.0.0.1/hook' },
      });
      expect(lan.status).toBe(400);
      expect(lan.body.error.details.rule).toBe('private');
      const metadata = await suite.app.request<Json>('POST', '/api/endpoints', {
        body: { name: 'm', url: 'http://[fd00:ec2::254]/' },
      });
      expect(metadata.body.error.details.rule).toBe('metadata');
      const ula = await suite.app.request<Json>('POST', '/api/endpoints', {
        body: { name: 'ula', url: 'http://[fd12::1]/hook' },
      });
      expect(ula.status).toBe(201);
    });
  });

  it('refuses a malformed value at boot, naming the variable and the form', async () => {
    const { parseBootConfig } = await import('../core/config/index.js');
    const parsed = parseBootConfig({ FACTEUR_ALLOW_PRIVATE_TARGETS: '10.0.0.0/33' });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok)
      expect(parsed.problems).toEqual([
        expect.objectContaining({
          variable: 'FACTEUR_ALLOW_PRIVATE_TARGETS',
          message: expect.stringContaining('"10.0.0.0/33" is not a CIDR range'),
        }),
      ]);
  });
});

describe.skipIf(skip)('webhook endpoint settings', () => {
  // The test default: loopback allowed, the rest of the private ranges refused.
  const suite = useWebhookSuite();

  it('reads endpoints stored with the old allowPrivateTargets, and never honours it', async () => {
    const { store, webhooks } = suite.app.facteur;
    const local = await suite.api.createEndpoint({ name: 'old-local', eventTypes: ['legacy.local'] });
    const lan = await suite.api.createEndpoint({ name: 'old-lan', eventTypes: ['legacy.lan'] });
    // As an earlier version wrote them: the switch on, and one of them aimed at the LAN.
    for (const [id, url] of [
      [local.id, undefined],
      [lan.id, 'http://10.0.0.1:9/hook'],
    ] as const) {
      const row = await store.db
        .selectFrom('webhook_endpoints')
        .select('config')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const config = { ...JSON.parse(row.config), ...(url ? { url } : {}), allowPrivateTargets: true };
      await store.db
        .updateTable('webhook_endpoints')
        .set({ config: JSON.stringify(config) })
        .where('id', '=', id)
        .execute();
    }
    webhooks.endpoints.invalidate();

    const view = await suite.app.request<Json>('GET', `/api/endpoints/${lan.id}`);
    expect(view.status).toBe(200);
    expect(view.body).not.toHaveProperty('allowPrivateTargets');
    const renamed = await suite.app.request<Json>('PATCH', `/api/endpoints/${local.id}`, {
      body: { name: 'renamed' },
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    const rewritten = await store.db
      .selectFrom('webhook_endpoints')
      .select('config')
      .where('id', '=', local.id)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(rewritten.config)).not.toHaveProperty('allowPrivateTargets');

    const delivered = await suite.api.publish('legacy.local');
    await suite.api.waitForDelivery(delivered.deliveries[0].id, (d) => expect(d.status).toBe('succeeded'));
    const refused = await suite.api.publish('legacy.lan');
    const d = await suite.api.waitForDelivery(refused.deliveries[0].id, (x) =>
      expect(x.status).toBe('failed'),
    );
    expect(d.attempts[0]).toMatchObject({ errorCode: 'TARGET_FORBIDDEN' });
    expect(d.attempts[0].errorMessage).toContain('10.0.0.1: private addresses are not allowed');
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
      body: { name: 'make', url: 'abcdefghijklmnopqrstuvwxyz123456' },
    });
    expect(bare.status, JSON.stringify(bare.body)).toBe(201);
    expect(bare.body.url).toBe('https://hook.eu2.make.com/abcdefghijklmnopqrstuvwxyz123456');
    const withHost = await suite.app.request<Json>('POST', '/api/endpoints', {
      body: {
        name: 'make',
        url: 'abcdefghijklmnopqrstuvwxyz123456@hook.us1.make.com',
      },
    });
    expect(withHost.body.url).toBe('https://hook.us1.make.com/abcdefghijklmnopqrstuvwxyz123456');
  });
});
