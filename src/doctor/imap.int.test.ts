import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type DovecotInstance, probeDovecot, startDovecot } from '../../test/support/dovecot.js';
import { startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import { createFolder, deleteRulesAndMailboxes, dovecotMailbox } from '../../test/support/imap-stream.js';
import { serviceSkipReason } from '../../test/support/services.js';
import type { Json } from '../../test/support/webhooks.js';
import { encodeFolder } from './imap.js';
import { type CheckReport, stageOf } from './model.js';

/**
 * `POST /api/doctor/imap` against a private Dovecot: a healthy mailbox passes every stage with
 * its folders' message counts and the watchers' state; a wrong password fails the login stage
 * with its hint, the password never shown.
 */

const skip = (await databaseSkipReason()) || serviceSkipReason('dovecot', await probeDovecot());

const stage = stageOf;

describe('modified UTF-7 folder names', () => {
  it('encodes non-ASCII names and ampersands as RFC 3501 says', () => {
    expect(encodeFolder('INBOX')).toBe('INBOX');
    expect(encodeFolder('Entwürfe')).toBe('Entw&APw-rfe');
    expect(encodeFolder('R&D')).toBe('R&-D');
  });
});

describe.skipIf(skip)('doctor imap', () => {
  let app: TestFacteur;
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot();
    app = await startTestFacteur();
    await createFolder(dovecot, 'Orders');
    await dovecot.append('alice', 'Orders', 'Subject: one\r\n\r\nfirst\r\n');
    await dovecot.append('alice', 'Orders', 'Subject: two\r\n\r\nsecond\r\n');
  });
  afterEach(() => deleteRulesAndMailboxes(app));
  afterAll(async () => {
    await app?.close();
    await dovecot?.close();
  });

  it('passes every stage of a healthy mailbox, counting each folder, with the watcher state', async () => {
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, 'Orders', { name: 'orders', folders: ['INBOX', 'Orders'] }),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const answer = await app.request<CheckReport>('POST', '/api/doctor/imap', {
      body: { mailbox: 'orders' },
    });
    expect(answer.status).toBe(200);
    const report = answer.body;
    expect(report.ok, JSON.stringify(report)).toBe(true);
    expect(report.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['ssrf', 'ok'],
      ['tcp', 'ok'],
      ['greeting', 'ok'],
      ['capability', 'ok'],
      ['tls', 'skipped'],
      ['login', 'ok'],
      ['select', 'ok'],
    ]);
    expect(stage(report, 'greeting').detail.banner).toContain('dovecot ready');
    expect(stage(report, 'capability').detail).toMatchObject({ idle: true });
    expect(stage(report, 'login').detail).toEqual({ user: 'alice', method: 'LOGIN' });
    expect(stage(report, 'select').detail.folders).toEqual([
      expect.objectContaining({ folder: 'INBOX', messages: 0 }),
      expect.objectContaining({ folder: 'Orders', messages: 2 }),
    ]);
    expect(report.watchers?.map((w) => w.folder).sort()).toEqual(['INBOX', 'Orders']);
    expect(JSON.stringify(report)).not.toContain('"secret"');
  });

  it('fails the login stage on a wrong password, with the hint, never showing the password', async () => {
    const wrong = 'wrong-password-9f3';
    const created = await app.request<Json>('POST', '/api/mailboxes', {
      body: dovecotMailbox(dovecot, 'INBOX', {
        name: 'wrong login',
        auth: { type: 'password', user: 'alice', password: wrong },
      }),
    });
    expect(created.status).toBe(201);
    const answer = await app.request<CheckReport>('POST', '/api/doctor/imap', {
      body: { mailbox: created.body.id },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.ok).toBe(false);
    const login = stage(answer.body, 'login');
    expect(login).toMatchObject({ outcome: 'failed', errorCode: 'IMAP_AUTH_FAILED' });
    expect(login.message).toMatch(/refused the login: NO/);
    expect(login.hint).toMatch(/wrong user or password/);
    expect(stage(answer.body, 'select').outcome).toBe('skipped');
    expect(JSON.stringify(answer.body)).not.toContain(wrong);
  });

  it('answers 404 naming an unknown mailbox', async () => {
    const answer = await app.request<Json>('POST', '/api/doctor/imap', { body: { mailbox: 'no such box' } });
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('NOT_FOUND');
    expect(answer.body.error.message).toContain('"no such box"');
  });
});
