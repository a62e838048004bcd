import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type KeyPair,
  makeTestCertificates,
  type TestCertificates,
} from '../../test/support/certificates.js';
import { databaseSkipReason } from '../../test/support/database.js';
import { LOOPBACK_TARGETS, startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import type { Json } from '../../test/support/webhooks.js';
import { systemClock } from '../core/clock.js';
import { parseBootConfig, parseSmtpUrl } from '../core/config/index.js';
import { TargetGuard } from '../core/net/ssrf.js';
import { type CheckReport, stageOf } from './model.js';
import { doctorTransport, smtpTarget } from './service.js';
import { checkSmtp, type SmtpTimeouts } from './smtp.js';

/**
 * The tls stage where TLS comes first: `doctor smtp` against implicit TLS (`smtps://`, an
 * smtp-server with `secure: true`), `doctor webhook` against an https receiver and `doctor
 * transport` against an https API base, with certificates made by openssl at test time. A
 * trusted certificate passes with its facts; a self-signed one fails the tls stage with its hint
 * and nothing after it runs (nothing is sent); `tls_verify=false` turns it into a warning.
 */

const TIMEOUTS: SmtpTimeouts = { connectMs: 5000, greetingMs: 5000, socketMs: 10_000, sendMs: 10_000 };
const PASSWORD = 'smtps-password-never-shown';
const POSTMARK_TOKEN = 'pm-token-never-shown-over-tls';

const stage = stageOf;

const outcomes = (report: CheckReport) => report.stages.map((s) => [s.stage, s.outcome]);

interface Listening {
  port: number;
  /** Requests (https) or messages (smtps) received. */
  received: number;
  close(): Promise<void>;
}

/** An SMTP server speaking TLS from the first byte (port 465 style), with AUTH for ada. */
async function startSmtps(tls: KeyPair): Promise<Listening> {
  const state = { received: 0 };
  const server = new SMTPServer({
    secure: true,
    ...tls,
    logger: false,
    name: 'smtps.test',
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (auth.username === 'ada' && auth.password === PASSWORD) return callback(null, { user: 'ada' });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        state.received += 1;
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** An https server answering 200 `{}` to every request, counting them. */
async function startHttps(tls: KeyPair): Promise<Listening> {
  const state = { received: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createHttpsServer(tls, (request, response) => {
    state.received += 1;
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  });
}

let dir: string;
let certs: TestCertificates;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'facteur-doctor-tls-'));
  certs = makeTestCertificates(dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('doctor smtp over implicit TLS (smtps://)', () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });
  const check = (url: string, extra: Partial<Parameters<typeof checkSmtp>[0]> = {}) =>
    checkSmtp({
      server: parseSmtpUrl(url),
      source: 'config',
      from: 'Facteur <doctor@example.com>',
      timeouts: TIMEOUTS,
      clock: systemClock,
      ehloName: 'doctor.test',
      ...extra,
    });

  it('runs the tls stage before the greeting, with the protocol and certificate facts', async () => {
    const relay = await startSmtps(certs.good);
    closers.push(() => relay.close());
    const report = await check(`smtps://ada:${PASSWORD}@127.0.0.1:${relay.port}`, {
      ca: [certs.ca],
      sendTo: 'bob@example.org',
    });
    expect(report).toMatchObject({ check: 'smtp', target: `smtps://127.0.0.1:${relay.port}`, ok: true });
    expect(outcomes(report)).toEqual([
      ['dns', 'ok'],
      ['tcp', 'ok'],
      ['tls', 'ok'],
      ['greeting', 'ok'],
      ['ehlo', 'ok'],
      ['auth', 'ok'],
      ['send', 'ok'],
      ['timeouts', 'ok'],
    ]);
    const tls = stage(report, 'tls').detail;
    expect(tls).toMatchObject({
      mode: 'implicit',
      subject: 'CN=good',
      names: ['127.0.0.1', 'localhost'],
      issuer: 'CN=Doctor Test CA',
      hostMatch: true,
      selfSigned: false,
    });
    expect(String(tls.protocol)).toMatch(/^TLSv1\.[23]$/);
    expect(String(tls.cipher)).toMatch(/AES|CHACHA/);
    expect(Date.parse(String(tls.validTo)) - Date.parse(String(tls.validFrom))).toBe(60 * 86_400_000);
    expect(stage(report, 'greeting').detail.banner).toContain('smtps.test');
    expect(stage(report, 'auth').detail).toMatchObject({ user: 'ada', mechanism: 'PLAIN' });
    expect(relay.received).toBe(1);
    expect(JSON.stringify(report)).not.toContain(PASSWORD);
  });

  it('fails the tls stage of a self-signed certificate with its hint; nothing after it runs', async () => {
    const relay = await startSmtps(certs.selfSigned);
    closers.push(() => relay.close());
    const report = await check(`smtps://ada:${PASSWORD}@127.0.0.1:${relay.port}`, {
      ca: [certs.ca],
      sendTo: 'bob@example.org',
    });
    expect(report.ok).toBe(false);
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_TLS' });
    expect(tls.message).toBe('the certificate is self-signed');
    expect(tls.hint).toMatch(/certificate from a public authority.*tls_verify=false.*only for a test relay/);
    expect(tls.detail).toMatchObject({
      mode: 'implicit',
      subject: 'CN=127.0.0.1',
      issuer: 'CN=127.0.0.1',
      names: ['127.0.0.1'],
      hostMatch: true,
      selfSigned: true,
    });
    expect(String(tls.detail.protocol)).toMatch(/^TLSv1\.[23]$/);
    for (const later of ['greeting', 'ehlo', 'auth', 'send', 'timeouts'])
      expect(stage(report, later)).toMatchObject({
        outcome: 'skipped',
        message: 'skipped: the tls stage failed',
      });
    expect(relay.received).toBe(0);
  });

  it('only warns with tls_verify=false, and the later stages pass', async () => {
    const relay = await startSmtps(certs.selfSigned);
    closers.push(() => relay.close());
    const report = await check(`smtps://ada:${PASSWORD}@127.0.0.1:${relay.port}?tls_verify=false`, {
      sendTo: 'bob@example.org',
    });
    expect(report.ok, JSON.stringify(report)).toBe(true);
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({ outcome: 'warning', message: 'the certificate is self-signed' });
    expect(tls.hint).toMatch(
      /accepted only because `tls_verify=false` in the URL: keep that for a test relay/,
    );
    expect(tls.detail).toMatchObject({ mode: 'implicit', selfSigned: true });
    expect(outcomes(report).slice(3)).toEqual([
      ['greeting', 'ok'],
      ['ehlo', 'ok'],
      ['auth', 'ok'],
      ['send', 'ok'],
      ['timeouts', 'ok'],
    ]);
    expect(relay.received).toBe(1);
  });
});

const skip = await databaseSkipReason();

describe.skipIf(skip)('doctor webhook against an https receiver with a self-signed certificate', () => {
  let app: TestFacteur;
  let receiver: Listening;
  beforeAll(async () => {
    receiver = await startHttps(certs.selfSigned);
    app = await startTestFacteur();
  });
  afterAll(async () => {
    await app?.close();
    await receiver?.close();
  });

  it('fails the tls stage naming the certificate problem, and sends nothing', async () => {
    const created = await app.request<Json>('POST', '/api/endpoints', {
      body: { name: 'self-signed receiver', url: `https://127.0.0.1:${receiver.port}/hook?token=t` },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const answer = await app.request<CheckReport>('POST', '/api/doctor/webhook', {
      body: { endpoint: 'self-signed receiver' },
    });
    expect(answer.status).toBe(200);
    const report = answer.body;
    expect(report.ok).toBe(false);
    expect(outcomes(report)).toEqual([
      ['dns', 'ok'],
      ['ssrf', 'ok'],
      ['tcp', 'ok'],
      ['tls', 'failed'],
      ['request', 'skipped'],
    ]);
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({
      errorCode: 'WEBHOOK_CONNECT_FAILED',
      message: 'the certificate is self-signed',
    });
    expect(tls.hint).toMatch(/certificate from a public authority/);
    expect(tls.detail).toMatchObject({ subject: 'CN=127.0.0.1', selfSigned: true, hostMatch: true });
    expect(String(tls.detail.protocol)).toMatch(/^TLSv1\.[23]$/);
    expect(stage(report, 'request').message).toBe('skipped: the tls stage failed');
    expect(receiver.received).toBe(0);
    expect(JSON.stringify(report)).not.toContain(created.body.secret);
  });
});

describe('doctor transport against an https API base with a self-signed certificate', () => {
  let api: Listening;
  beforeAll(async () => {
    api = await startHttps(certs.selfSigned);
  });
  afterAll(() => api?.close());

  it('fails the tls stage with the certificate problem and skips auth', async () => {
    const base = `https://127.0.0.1:${api.port}`;
    const parsed = parseBootConfig({
      FACTEUR_TRANSPORTS: `postmark://${POSTMARK_TOKEN}@api.postmarkapp.com?api_base=${encodeURIComponent(base)}`,
      FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
      FACTEUR_SMTP_CONNECT_TIMEOUT: '5s',
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const deps = {
      clock: systemClock,
      guard: new TargetGuard(parsed.config.network.privateTargets),
      smtp: smtpTarget(parsed.config),
    };
    const report = await doctorTransport(deps, 'postmark');
    expect(report).toMatchObject({ check: 'provider', target: base, transport: 'postmark', ok: false });
    expect(outcomes(report)).toEqual([
      ['dns', 'ok'],
      ['tcp', 'ok'],
      ['tls', 'failed'],
      ['auth', 'skipped'],
    ]);
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({
      errorCode: 'PROVIDER_UNAVAILABLE',
      message: 'the certificate is self-signed',
    });
    expect(tls.hint).toMatch(/certificate from a public authority/);
    expect(tls.detail).toMatchObject({ subject: 'CN=127.0.0.1', names: ['127.0.0.1'], selfSigned: true });
    expect(stage(report, 'auth').message).toBe('skipped: the tls stage failed');
    expect(api.received).toBe(0); // the verify request was never made
    expect(JSON.stringify(report)).not.toContain(POSTMARK_TOKEN);
  });
});
