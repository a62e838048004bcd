import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../../test/support/certificates.js';
import { systemClock } from '../core/clock.js';
import { parseSmtpUrl } from '../core/config/index.js';
import { stageOf } from './model.js';
import { checkSmtp, type SmtpTimeouts } from './smtp.js';

/**
 * `doctor smtp` against local servers: each known failure is named at its stage with its hint
 * (closed port, silent port, self-signed and wrong-name certificates, AUTH 535, relay refused),
 * and a healthy relay passes every stage and receives the test message.
 */

const TIMEOUTS: SmtpTimeouts = { connectMs: 2000, greetingMs: 2000, socketMs: 5000, sendMs: 5000 };
const PASSWORD = 'pa55-word-never-shown';

interface Relay {
  port: number;
  received: Array<{ from: string; to: string[]; raw: string }>;
  close(): Promise<void>;
}

/** A relay with STARTTLS (certificate `tls`) and AUTH; `rcpt` may refuse recipients. */
async function startRelay(options: {
  tls: { key: string; cert: string };
  users?: Record<string, string>;
  rcpt?: (address: string) => { code: number; message: string } | undefined;
}): Promise<Relay> {
  const received: Relay['received'] = [];
  const server = new SMTPServer({
    secure: false,
    key: options.tls.key,
    cert: options.tls.cert,
    logger: false,
    name: 'relay.test',
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !options.users,
    onAuth(auth, _session, callback) {
      if (options.users?.[auth.username ?? ''] === auth.password)
        return callback(null, { user: auth.username });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      const refusal = options.rcpt?.(address.address);
      if (refusal) return callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const stage = stageOf;

function check(url: string, extra: Partial<Parameters<typeof checkSmtp>[0]> = {}) {
  return checkSmtp({
    server: parseSmtpUrl(url),
    source: 'config',
    from: 'Facteur <doctor@example.com>',
    timeouts: TIMEOUTS,
    clock: systemClock,
    ehloName: 'doctor.test',
    ...extra,
  });
}

describe('doctor smtp', () => {
  let dir: string;
  let certs: TestCertificates;
  const closers: Array<() => Promise<void> | void> = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'facteur-doctor-certs-'));
    certs = makeTestCertificates(dir);
  });
  afterAll(async () => {
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names a closed port at the tcp stage: nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const report = await check(`smtp://127.0.0.1:${port}?starttls=off`);
    expect(report.ok).toBe(false);
    expect(stage(report, 'dns').outcome).toBe('ok');
    expect(stage(report, 'tcp')).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_CONNECT' });
    expect(stage(report, 'tcp').message).toContain('ECONNREFUSED');
    expect(stage(report, 'tcp').hint).toMatch(/nothing listens on port/);
    for (const later of ['greeting', 'ehlo', 'auth', 'timeouts'])
      expect(stage(report, later).outcome).toBe('skipped');
  });

  it('ends a port that accepts and never greets at the greeting timeout, with the protocol hint', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const report = await check(`smtp://127.0.0.1:${port}?starttls=off`, {
      timeouts: { ...TIMEOUTS, greetingMs: 300 },
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(stage(report, 'tcp').outcome).toBe('ok');
    expect(stage(report, 'greeting')).toMatchObject({
      outcome: 'failed',
      errorCode: 'SMTP_TIMEOUT',
      message: 'no greeting within 300 ms',
    });
    expect(stage(report, 'greeting').hint).toMatch(/TLS first.*smtps:\/\/|proxy/);
    expect(stage(report, 'ehlo').outcome).toBe('skipped');
  });

  it('fails STARTTLS with a self-signed certificate at the tls stage, and only warns with tls_verify=false', async () => {
    const relay = await startRelay({ tls: certs.selfSigned });
    closers.push(() => relay.close());
    const report = await check(`smtp://127.0.0.1:${relay.port}`, { ca: [certs.ca] });
    expect(stage(report, 'greeting').outcome).toBe('ok');
    expect(stage(report, 'ehlo').detail.capabilities).toContain('STARTTLS');
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_TLS' });
    expect(tls.message).toMatch(/self-signed/);
    expect(tls.hint).toMatch(/tls_verify=false.*test relay/);
    expect(tls.detail).toMatchObject({ mode: 'STARTTLS', selfSigned: true, subject: 'CN=127.0.0.1' });
    expect(stage(report, 'auth').outcome).toBe('skipped');

    const lenient = await check(`smtp://127.0.0.1:${relay.port}?tls_verify=false`, { ca: [certs.ca] });
    expect(lenient.ok).toBe(true);
    expect(stage(lenient, 'tls')).toMatchObject({ outcome: 'warning' });
    expect(stage(lenient, 'tls').hint).toMatch(/accepted only because/);
  });

  it('fails a certificate for another name at the tls stage, naming both names', async () => {
    const relay = await startRelay({ tls: certs.wrongName });
    closers.push(() => relay.close());
    const report = await check(`smtp://127.0.0.1:${relay.port}?starttls=required`, { ca: [certs.ca] });
    const tls = stage(report, 'tls');
    expect(tls).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_TLS' });
    expect(tls.message).toBe('the certificate is for mail.example.test, not for 127.0.0.1');
    expect(tls.detail).toMatchObject({ hostMatch: false, names: ['mail.example.test'], selfSigned: false });
    expect(tls.hint).toMatch(/a host name the certificate names/);
  });

  it('names a refused login (535) at the auth stage, never showing the password', async () => {
    const relay = await startRelay({ tls: certs.good, users: { ada: 'the-right-one' } });
    closers.push(() => relay.close());
    const report = await check(`smtp://ada:${PASSWORD}@127.0.0.1:${relay.port}?starttls=required`, {
      ca: [certs.ca],
    });
    expect(stage(report, 'tls').outcome, JSON.stringify(stage(report, 'tls'))).toBe('ok');
    const auth = stage(report, 'auth');
    expect(auth).toMatchObject({
      outcome: 'failed',
      errorCode: 'SMTP_AUTH',
      detail: { user: 'ada', mechanism: 'PLAIN' },
    });
    expect(auth.message).toMatch(/535/);
    expect(auth.hint).toMatch(/wrong user or password/);
    expect(JSON.stringify(report)).not.toContain(PASSWORD);
    expect(JSON.stringify(report)).not.toContain(Buffer.from(`\0ada\0${PASSWORD}`).toString('base64'));
  });

  it('names a relay refusal (550 5.7.1 at RCPT) at the send stage', async () => {
    const relay = await startRelay({
      tls: certs.good,
      rcpt: (address) =>
        address.endsWith('@elsewhere.example') ? { code: 550, message: '5.7.1 Relaying denied' } : undefined,
    });
    closers.push(() => relay.close());
    const report = await check(`smtp://127.0.0.1:${relay.port}`, {
      ca: [certs.ca],
      sendTo: 'bob@elsewhere.example',
    });
    const send = stage(report, 'send');
    expect(send).toMatchObject({ outcome: 'failed', errorCode: 'SMTP_REJECTED' });
    expect(send.message).toContain('550 5.7.1 Relaying denied');
    expect(send.hint).toMatch(/relay refused/);
    expect(relay.received).toHaveLength(0);
  });

  it('passes every stage of a healthy relay and delivers the test message', async () => {
    const relay = await startRelay({ tls: certs.good, users: { ada: PASSWORD } });
    closers.push(() => relay.close());
    const seen: string[] = [];
    const report = await check(`smtp://ada:${PASSWORD}@127.0.0.1:${relay.port}?starttls=required`, {
      ca: [certs.ca],
      sendTo: 'bob@example.org',
      onStage: (s) => seen.push(s.stage),
    });
    expect(report.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['tcp', 'ok'],
      ['greeting', 'ok'],
      ['ehlo', 'ok'],
      ['tls', 'ok'],
      ['auth', 'ok'],
      ['send', 'ok'],
      ['timeouts', 'ok'],
    ]);
    expect(seen).toEqual(report.stages.map((s) => s.stage));
    expect(report).toMatchObject({ ok: true, target: `smtp://127.0.0.1:${relay.port}` });
    expect(stage(report, 'tls').detail).toMatchObject({
      mode: 'STARTTLS',
      hostMatch: true,
      issuer: 'CN=Doctor Test CA',
    });
    expect(String(stage(report, 'tls').detail.protocol)).toMatch(/^TLSv1\.[23]$/);
    expect(stage(report, 'tls').detail.capabilities).toEqual(
      expect.arrayContaining([expect.stringMatching(/^AUTH /)]),
    );
    expect(relay.received).toHaveLength(1);
    expect(relay.received[0]).toMatchObject({ from: 'doctor@example.com', to: ['bob@example.org'] });
    expect(relay.received[0]?.raw).toContain('Subject: Facteur doctor test message');
    expect(JSON.stringify(report)).not.toContain(PASSWORD);
  });
});
