import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../../../test/support/database.js';
import { ManualClock } from '../clock.js';
import { openStore, type Store } from '../db/index.js';
import { AppError } from '../errors.js';
import { silentLogger } from '../observability/index.js';
import { SettingsCollection } from './collection.js';
import type { SettingsKind, SettingsRecord } from './contract.js';
import { exportCollection, importCollection } from './transfer.js';

const skip = await databaseSkipReason();

/*
 * The settings contract with two kinds made for the test, on the shared settings tables: one
 * with a sealed secret and a status (on `mailboxes`), one ordered without secrets (on `rules`).
 */

const boxInput = z.strictObject({
  name: z.string().min(1).max(40),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).prefault(993),
  password: z.string().min(1),
});
type BoxInput = z.output<typeof boxInput>;
const boxPatch = boxInput.partial();
type BoxSettings = { name: string; host: string; port: number };
type Box = SettingsRecord<BoxSettings, { password: string }>;

const checked: string[] = [];
const boxKind: SettingsKind<BoxSettings, { password: string }, BoxInput, z.output<typeof boxPatch>, Box> = {
  noun: 'box',
  table: 'mailboxes',
  path: '/api/boxes',
  channel: 'test_boxes',
  columns: { status: true, secrets: true, position: false },
  createSchema: boxInput,
  patchSchema: boxPatch,
  emptySecrets: { password: '' },
  prepare: ({ password, ...settings }) => ({
    settings,
    secrets: { password },
    problems: settings.host === settings.name ? [{ field: 'host', message: 'must differ from name' }] : [],
  }),
  toInput: (box) => ({ ...box.settings, password: box.secrets.password }),
  check: async (settings) => {
    checked.push(settings.host);
    if (settings.host.endsWith('.internal'))
      throw new AppError('TARGET_FORBIDDEN', `${settings.host} is private`, { details: { field: 'host' } });
  },
  exportForm: (box) => ({ ...box.settings }),
  withStoredSecrets: (written, current) => ({ password: current.secrets.password, ...written }),
};

const stepInput = z.strictObject({ name: z.string().min(1), weight: z.number().int().prefault(1) });
type Step = SettingsRecord<z.output<typeof stepInput>, Record<string, never>>;
const stepKind: SettingsKind<
  z.output<typeof stepInput>,
  Record<string, never>,
  z.output<typeof stepInput>,
  Partial<z.output<typeof stepInput>>,
  Step
> = {
  noun: 'step',
  table: 'rules',
  path: '/api/steps',
  channel: 'test_steps',
  columns: { status: false, secrets: false, position: true },
  createSchema: stepInput,
  patchSchema: stepInput.partial(),
  emptySecrets: {},
  prepare: (input) => ({ settings: input, secrets: {}, problems: [] }),
  toInput: (step) => step.settings,
  exportForm: (step) => ({ ...step.settings }),
};

const failure = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
};

describe.skipIf(skip)('settings collections', () => {
  let database: TestDatabase;
  let store: Store;
  let other: Store;
  const clock = new ManualClock(Date.parse('2026-12-06T10:00:00Z'));
  const secretKey = randomBytes(32);
  const deps = () => ({ store, clock, logger: silentLogger(), secretKey });
  let boxes: SettingsCollection<BoxSettings, { password: string }, BoxInput, z.output<typeof boxPatch>, Box>;

  beforeAll(async () => {
    database = await createTestDatabase();
    store = openStore(database.config);
    other = openStore(database.config);
    await other.listen(silentLogger());
    boxes = new SettingsCollection(boxKind, deps());
  });
  afterEach(async () => {
    await store.db.deleteFrom('mailboxes').execute();
    await store.db.deleteFrom('rules').execute();
  });
  afterAll(async () => {
    boxes?.close();
    await other?.close();
    await store?.close();
    await database?.drop();
  });

  it('validates writes whole, names every bad field, and seals the secret', async () => {
    const bad = await failure(boxes.create(boxInput.parse({ name: 'same', host: 'same', password: 'p' })));
    expect(bad.code).toBe('VALIDATION_FAILED');
    expect(bad.details).toEqual([{ in: 'body', field: 'host', message: 'must differ from name' }]);
    const forbidden = await failure(
      boxes.create(boxInput.parse({ name: 'a', host: 'x.internal', password: 'p' })),
    );
    expect(forbidden.code).toBe('TARGET_FORBIDDEN');
    expect(await boxes.list()).toEqual([]);

    const box = await boxes.create(
      boxInput.parse({ name: 'a', host: 'imap.example.com', password: 'hunter2' }),
    );
    expect(box).toMatchObject({ name: 'a', status: 'active', version: 1, settings: { port: 993 } });
    expect(box.secrets).toEqual({ password: 'hunter2' });
    const row = await store.db.selectFrom('mailboxes').selectAll().executeTakeFirstOrThrow();
    expect(row.secrets).not.toContain('hunter2');
    expect(row.config).not.toContain('hunter2');

    const taken = await failure(
      boxes.create(boxInput.parse({ name: 'a', host: 'other.example.com', password: 'p' })),
    );
    expect(taken.details).toEqual([{ in: 'body', field: 'name', message: 'is already used by another box' }]);
  });

  it('raises the version on every write and refuses a change based on an older one', async () => {
    const box = await boxes.create(boxInput.parse({ name: 'v', host: 'imap.example.com', password: 'p' }));
    const changed = await boxes.update(box.id, { port: 143 });
    expect(changed).toMatchObject({ version: 2, settings: { port: 143, host: 'imap.example.com' } });
    expect(changed.secrets.password).toBe('p'); // a patch without the secret keeps it
    const paused = await boxes.setStatus(box.id, 'paused', { ifVersion: 2 });
    expect(paused).toMatchObject({ status: 'paused', version: 3 });

    const stale = await failure(boxes.update(box.id, { port: 1143 }, { ifVersion: 2 }));
    expect(stale.code).toBe('VERSION_MISMATCH');
    expect(stale.details).toEqual({ expected: 2, actual: 3 });
    expect(await failure(boxes.remove(box.id, { ifVersion: 1 }))).toMatchObject({ code: 'VERSION_MISMATCH' });
    expect((await boxes.load(box.id)).settings.port).toBe(143);
    await boxes.remove(box.id, { ifVersion: 3 });
    expect(await failure(boxes.load(box.id))).toMatchObject({
      code: 'NOT_FOUND',
      message: `no box has the id ${box.id}`,
    });
  });

  it('tells every process after commit, so their cached copies follow', async () => {
    const elsewhere = new SettingsCollection(boxKind, { ...deps(), store: other, refreshMs: 60_000 });
    try {
      const box = await boxes.create(boxInput.parse({ name: 'c', host: 'one.example.com', password: 'p' }));
      expect((await elsewhere.require(box.id)).settings.host).toBe('one.example.com');
      await boxes.update(box.id, { host: 'two.example.com' });
      if (store.dialect === 'postgres') {
        // Across connections the notification goes through LISTEN/NOTIFY.
        await vi.waitFor(async () =>
          expect((await elsewhere.require(box.id)).settings.host).toBe('two.example.com'),
        );
      } else {
        // SQLite has no cross-connection channel: the copy is trusted for refreshMs, then reloaded.
        expect((await elsewhere.require(box.id)).settings.host).toBe('one.example.com');
        clock.advance(60_000);
        expect((await elsewhere.require(box.id)).settings.host).toBe('two.example.com');
      }
      // In the writing process the copy is fresh at once, without waiting for anything.
      expect((await boxes.require(box.id)).settings.host).toBe('two.example.com');
    } finally {
      elsewhere.close();
    }
  });

  it('keeps unreadable secrets to the record they belong to, with what to do', async () => {
    const box = await boxes.create(boxInput.parse({ name: 'k', host: 'imap.example.com', password: 'p' }));
    const otherKey = new SettingsCollection(boxKind, { ...deps(), secretKey: randomBytes(32) });
    try {
      const read = await otherKey.load(box.id);
      expect(read.secrets).toEqual({ password: '' });
      expect(read.secretsProblem).toMatch(/cannot be read .*set them again with PATCH \/api\/boxes\//);
    } finally {
      otherKey.close();
    }
  });

  it('keeps an ordered kind dense: insert at a place, reorder naming every record once', async () => {
    const steps = new SettingsCollection(stepKind, deps());
    try {
      const a = await steps.create(stepInput.parse({ name: 'a' }));
      const c = await steps.create(stepInput.parse({ name: 'c' }));
      const b = await steps.create(stepInput.parse({ name: 'b' }), { position: 1 });
      expect((await steps.list()).map((s) => [s.name, s.position])).toEqual([
        ['a', 0],
        ['b', 1],
        ['c', 2],
      ]);
      const wrong = await failure(steps.reorder([c.id, a.id, 'nope']));
      expect(wrong.details).toEqual([
        expect.objectContaining({ field: 'ids', message: expect.stringMatching(/missing .*unknown nope/) }),
      ]);
      expect((await steps.reorder([c.id, b.id, a.id])).map((s) => s.name)).toEqual(['c', 'b', 'a']);
      await steps.remove(b.id);
      expect((await steps.list()).map((s) => s.name)).toEqual(['c', 'a']);
    } finally {
      steps.close();
    }
  });

  it('exports without secrets and imports back whole, or names every bad field and writes nothing', async () => {
    const kept = await boxes.create(
      boxInput.parse({ name: 'kept', host: 'imap.example.com', password: 'secret-1' }),
    );
    await boxes.setStatus(kept.id, 'paused');
    const exported = await exportCollection(boxes);
    expect(exported).toEqual({
      kind: 'box',
      version: 1,
      records: [{ id: kept.id, status: 'paused', name: 'kept', host: 'imap.example.com', port: 993 }],
    });
    expect(JSON.stringify(exported)).not.toContain('secret-1');

    const bad = await failure(
      importCollection(boxes, {
        kind: 'box',
        version: 1,
        records: [
          { ...exported.records[0], port: 0 },
          { name: 'new', host: 'mx.internal', password: 'x' },
          { name: 'nopass', host: 'imap2.example.com' },
        ],
      }),
    );
    expect(bad.code).toBe('VALIDATION_FAILED');
    expect((bad.details as Array<{ field: string }>).map((d) => d.field)).toEqual([
      'records[0].port',
      'records[1].host',
      'records[2].password',
    ]);
    expect((await boxes.list()).map((b) => b.version)).toEqual([kept.version + 1]); // nothing written

    const result = await importCollection(boxes, {
      kind: 'box',
      version: 1,
      records: [
        { ...exported.records[0], status: 'active', port: 143 },
        { name: 'added', host: 'imap3.example.com', password: 'secret-2' },
      ],
    });
    expect(result.updated).toEqual([kept.id]);
    expect(result.created).toHaveLength(1);
    const after = await boxes.list();
    expect(after.map((b) => [b.name, b.status, b.settings.port, b.secrets.password])).toEqual([
      ['kept', 'active', 143, 'secret-1'],
      ['added', 'active', 993, 'secret-2'],
    ]);

    const pruned = await importCollection(
      boxes,
      { kind: 'box', version: 1, records: [exported.records[0]] },
      { prune: true },
    );
    expect(pruned.deleted).toEqual(result.created);
    expect(await failure(importCollection(boxes, { kind: 'step', version: 1, records: [] }))).toMatchObject({
      details: [{ in: 'body', field: 'kind', message: 'must be box' }],
    });
  });
});
