import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../test/support/database.js';
import { systemClock } from '../core/clock.js';
import { openStore, type Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { Principal } from '../core/http/auth.js';
import { createHttpServer, type HttpApp } from '../core/http/server.js';
import { HealthRegistry, silentLogger } from '../core/observability/index.js';
import {
  registerSettingsRoutes,
  SettingsCollection,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import { installAuditHook } from './http.js';
import { REDACTED } from './model.js';
import { registerAuditRoutes } from './routes.js';
import { AuditLog } from './service.js';

/**
 * The audit log behind a real HTTP server on the test dialect: a settings change recorded by
 * its collection with before and after (secrets redacted) in the change's transaction, and not
 * again by the HTTP layer; other accepted changes recorded by the HTTP layer; 403s recorded as
 * refused; `GET /api/audit` admin only, with its filters and clear validation errors.
 */

const skip = await databaseSkipReason();

// A settings kind made for the test, on the shared `mailboxes` table: a host and a sealed password.
const boxInput = z.strictObject({
  name: z.string().min(1).max(40),
  host: z.string().min(1),
  password: z.string(),
});
type BoxInput = z.output<typeof boxInput>;
type Box = SettingsRecord<{ name: string; host: string }, { password: string }>;
const boxKind: SettingsKind<
  { name: string; host: string },
  { password: string },
  BoxInput,
  Partial<BoxInput>,
  Box
> = {
  noun: 'box',
  table: 'mailboxes',
  path: '/api/boxes',
  channel: 'audit_test_boxes',
  columns: { status: true, secrets: true, position: false },
  createSchema: boxInput,
  patchSchema: boxInput.partial(),
  emptySecrets: { password: '' },
  prepare: ({ password, ...settings }) => ({ settings, secrets: { password }, problems: [] }),
  toInput: (box) => ({ ...box.settings, password: box.secrets.password }),
  exportForm: (box) => ({ ...box.settings }),
};
const boxView = z.object({ id: z.string(), name: z.string(), host: z.string(), version: z.number() });

const KEYS: Record<string, Principal> = {
  viewer: { kind: 'api_key', id: 'k-viewer', name: 'viewer key', role: 'viewer' },
  operator: { kind: 'api_key', id: 'k-operator', name: 'operator key', role: 'operator' },
  admin: { kind: 'api_key', id: 'k-admin', name: 'admin key', role: 'admin' },
};

// biome-ignore lint/suspicious/noExplicitAny: test answers, read loosely
type Json = Record<string, any>;

describe.skipIf(skip)('the audit log over HTTP', () => {
  let database: TestDatabase;
  let store: Store;
  let audit: AuditLog;
  let boxes: SettingsCollection<
    { name: string; host: string },
    { password: string },
    BoxInput,
    Partial<BoxInput>,
    Box
  >;
  let app: HttpApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    const logger = silentLogger();
    audit = new AuditLog({ store, clock: systemClock, logger, retentionMs: 365 * 86_400_000 });
    boxes = new SettingsCollection(boxKind, {
      store,
      clock: systemClock,
      logger,
      secretKey: randomBytes(32),
    });
    app = await createHttpServer({
      logger,
      metrics: new Registry(),
      health: new HealthRegistry(),
      bodyLimitBytes: 1024 * 1024,
      version: 'test',
      verifyKey: async (key) => KEYS[key],
      registerApiRoutes: (api) => {
        installAuditHook(api, audit);
        registerAuditRoutes(api, audit);
        registerSettingsRoutes(api, {
          path: '/boxes',
          listKey: 'boxes',
          tags: ['boxes'],
          collection: boxes,
          view: (box) => ({ id: box.id, name: box.name, host: box.settings.host, version: box.version }),
          viewSchema: boxView,
          summaries: { create: 'c', list: 'l', get: 'g', patch: 'p', delete: 'd', pause: 'pa', resume: 'r' },
        });
        api.post('/things/:id/start', async (_request, reply) => reply.status(202).send({ started: true }));
        api.post('/things/:id/fail', async () => {
          throw new AppError('IDEMPOTENCY_CONFLICT', 'refused for the test');
        });
        api.get('/things', async () => ({ things: [] }));
        // Work with a ledger of its own (a message sent, an event published): not a change.
        api.post('/things/:id/send', { config: { workLedger: true } }, async (_request, reply) =>
          reply.status(202).send({ sent: true }),
        );
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await audit?.stop();
    boxes?.close();
    await store?.close();
    await database?.drop();
  });

  async function call(role: string, method: string, url: string, body?: unknown, headers = {}) {
    const answer = await app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${role}`, ...headers },
      ...(body === undefined ? {} : { payload: body as Json }),
    });
    await audit.settled();
    return {
      status: answer.statusCode,
      body: (answer.body ? answer.json() : undefined) as Json,
      requestId: answer.headers['x-request-id'],
    };
  }
  const entries = async (query: string) =>
    (await call('admin', 'GET', `/api/audit?${query}`)).body.items as Json[];

  it('records a settings update with before and after, secrets redacted, in the collection and only there', async () => {
    const created = await call('operator', 'POST', '/api/boxes', {
      name: 'support',
      host: 'imap1',
      password: 's3cret',
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const patched = await call(
      'operator',
      'PATCH',
      `/api/boxes/${id}`,
      { host: 'imap2', password: 'n3w' },
      { 'if-match': '"1"' },
    );
    expect(patched.status).toBe(200);
    const paused = await call('operator', 'POST', `/api/boxes/${id}/pause`);
    expect(paused.status).toBe(200);
    expect((await call('operator', 'DELETE', `/api/boxes/${id}`)).status).toBe(204);

    const [updated, ...others] = await entries(`action=settings.box.updated&targetId=${id}`);
    expect(others).toEqual([]);
    expect(updated).toMatchObject({
      actor: { kind: 'api_key', id: 'k-operator', name: 'operator key', role: 'operator' },
      action: 'settings.box.updated',
      target: { type: 'box', id },
      address: '127.0.0.1',
      requestId: patched.requestId,
      outcome: 'ok',
      before: {
        id,
        name: 'support',
        status: 'active',
        settings: { name: 'support', host: 'imap1' },
        secrets: REDACTED,
        version: 1,
      },
      after: { settings: { name: 'support', host: 'imap2' }, secrets: REDACTED, version: 2 },
    });
    expect((await entries(`targetType=box&targetId=${id}`)).map((e) => e.action)).toEqual([
      'settings.box.deleted',
      'settings.box.paused',
      'settings.box.updated',
      'settings.box.created',
    ]);
    const [deleted] = await entries(`action=settings.box.deleted&targetId=${id}`);
    expect(deleted).toMatchObject({ before: { status: 'paused', version: 3 }, after: null });
    // Not recorded a second time by the HTTP layer, and no secret anywhere in the rows.
    expect(await entries('targetType=boxes')).toEqual([]);
    const rows = await store.db.selectFrom('audit_log').select(['before_json', 'after_json']).execute();
    expect(JSON.stringify(rows)).not.toMatch(/s3cret|n3w/);
  });

  it('records a change the collection refused as nothing', async () => {
    const before = (await entries('limit=500')).length;
    expect(
      (await call('operator', 'PATCH', '/api/boxes/01900000-0000-7000-8000-000000000000', { host: 'x' }))
        .status,
    ).toBe(404);
    expect((await call('operator', 'POST', '/api/boxes', { name: '' })).status).toBe(400);
    expect((await entries('limit=500')).length).toBe(before + 0);
  });

  it('records other accepted changes from the HTTP layer, and neither reads nor failures', async () => {
    const started = await call('operator', 'POST', '/api/things/t-1/start', {});
    expect(started.status).toBe(202);
    expect((await call('operator', 'POST', '/api/things/t-1/fail', {})).status).toBe(409);
    expect((await call('operator', 'GET', '/api/things')).status).toBe(200);
    expect((await call('operator', 'POST', '/api/things/t-1/send', {})).status).toBe(202);
    const recorded = await entries('targetType=things');
    expect(recorded).toEqual([
      expect.objectContaining({
        actor: { kind: 'api_key', id: 'k-operator', name: 'operator key', role: 'operator' },
        action: 'http.POST /api/things/:id/start',
        target: { type: 'things', id: 't-1' },
        requestId: started.requestId,
        before: null,
        after: null,
        outcome: 'ok',
      }),
    ]);
  });

  it('records every 403 as refused, whatever the method, and keeps the log to admins', async () => {
    const refused = await call('viewer', 'POST', '/api/things/t-2/start', {});
    expect(refused.status).toBe(403);
    const peek = await call('operator', 'GET', '/api/audit');
    expect(peek.status).toBe(403);
    expect(peek.body.error.code).toBe('AUTH_FORBIDDEN');
    const recorded = await entries('limit=500');
    const mine = recorded.filter((e) => e.outcome === 'refused');
    expect(mine.map((e) => [e.action, e.actor.id, e.target])).toEqual([
      ['http.GET /api/audit', 'k-operator', { type: 'audit', id: null }],
      ['http.POST /api/things/:id/start', 'k-viewer', { type: 'things', id: 't-2' }],
    ]);
    expect(mine[1]?.requestId).toBe(refused.requestId);
  });

  it('declares the route in the OpenAPI document, with every query parameter and its 403', async () => {
    // The fuzz test (test/e2e/openapi-fuzz.int.test.ts) takes its cases from these parameters.
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Json;
    const operation = doc.paths['/api/audit'].get as Json;
    expect(operation.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()).toEqual(
      ['action', 'actorId', 'cursor', 'limit', 'since', 'targetId', 'targetType', 'until'].map(
        (n) => `query:${n}`,
      ),
    );
    expect(operation.responses['403'].description).toMatch(/admin role/);
  });

  it('pages through the log with a cursor and names each bad query field', async () => {
    const first = await call('admin', 'GET', '/api/audit?limit=2');
    expect(first.body.items).toHaveLength(2);
    const second = await call('admin', 'GET', `/api/audit?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.status).toBe(200);
    const ids = [...first.body.items, ...second.body.items].map((e: Json) => e.id);
    expect(new Set(ids).size).toBe(4);
    const all = (await entries('limit=500')).map((e) => e.id);
    expect(all.slice(0, 4)).toEqual(ids);
    expect(Date.parse(first.body.items[0].at)).toBeGreaterThan(Date.parse('2026-01-01T00:00:00Z'));
    const future = await call('admin', 'GET', '/api/audit?since=2999-01-01T00:00:00Z');
    expect(future.body).toEqual({ items: [], nextCursor: null });
    const early = await call('admin', 'GET', '/api/audit?until=1000');
    expect(early.body.items).toEqual([]);

    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=many', 'limit'],
      ['since=yesterday', 'since'],
      ['until=-1', 'until'],
      ['cursor=not-a-cursor', 'cursor'],
      ['action=', 'action'],
      ['bogus=1', 'bogus'],
    ] as const) {
      const bad = await call('admin', 'GET', `/api/audit?${query}`);
      expect(bad.status, query).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(bad.body.error.details, query).toEqual([expect.objectContaining({ in: 'querystring', field })]);
    }
  });
});
