import { describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../../test/support/database.js';
import { type Json, useWebhookSuite } from '../../../test/support/webhooks.js';

/**
 * The one resource-route helper over settings collections: the same answers for every kind
 * (here rules, endpoints and mailboxes), an ETag per record and If-Match on every change.
 */

const skip = await databaseSkipReason();

describe.skipIf(skip)('settings resources over HTTP', () => {
  const suite = useWebhookSuite();

  it('tags a record with its version and refuses a change based on an older one', async () => {
    const created = await suite.app.request<Json>('POST', '/api/rules', {
      body: { name: 'tagged', actions: [{ type: 'tag', tags: ['t'] }] },
    });
    expect(created.status).toBe(201);
    expect(created.body.version).toBe(1);
    expect(created.headers.get('etag')).toBe('"1"');
    const path = `/api/rules/${created.body.id}`;
    expect((await suite.app.request<Json>('GET', path)).headers.get('etag')).toBe('"1"');

    const changed = await suite.app.request<Json>('PATCH', path, {
      body: { enabled: false },
      headers: { 'if-match': '"1"' },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ enabled: false, version: 2 });
    expect(changed.headers.get('etag')).toBe('"2"');

    const stale = await suite.app.request<Json>('PATCH', path, {
      body: { enabled: true },
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.body.error).toMatchObject({ code: 'VERSION_MISMATCH', details: { expected: 1, actual: 2 } });
    expect((await suite.app.request<Json>('GET', path)).body.enabled).toBe(false);

    const malformed = await suite.app.request<Json>('DELETE', path, { headers: { 'if-match': 'yesterday' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.details).toEqual([
      expect.objectContaining({ in: 'headers', field: 'if-match' }),
    ]);
    expect((await suite.app.request<Json>('DELETE', path, { headers: { 'if-match': '"1"' } })).status).toBe(
      412,
    );
    expect((await suite.app.request<Json>('DELETE', path, { headers: { 'if-match': 'W/"2"' } })).status).toBe(
      204,
    );
    expect((await suite.app.request<Json>('GET', path)).status).toBe(404);
  });

  it('serves pause and resume with If-Match for endpoints the same way', async () => {
    const endpoint = await suite.api.createEndpoint();
    const path = `/api/endpoints/${endpoint.id}`;
    expect(endpoint.version).toBe(1);
    const paused = await suite.app.request<Json>('POST', `${path}/pause`, { headers: { 'if-match': '"1"' } });
    expect(paused.body).toMatchObject({ status: 'paused', version: 2 });
    const stale = await suite.app.request<Json>('POST', `${path}/resume`, { headers: { 'if-match': '"1"' } });
    expect(stale.status).toBe(412);
    expect((await suite.app.request<Json>('GET', path)).body.status).toBe('paused');
    const listed = await suite.app.request<Json>('GET', '/api/endpoints');
    expect(listed.body.endpoints).toEqual([expect.objectContaining({ id: endpoint.id, version: 2 })]);
  });
});
