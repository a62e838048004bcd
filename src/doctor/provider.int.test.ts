import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { LOOPBACK_TARGETS, startTestFacteur, type TestFacteur } from '../../test/support/facteur.js';
import {
  type ProviderServer,
  startPostmarkServer,
  startSendgridServer,
  startSesServer,
} from '../../test/support/providers.js';
import { startSmtpSink } from '../../test/support/smtp-sink.js';
import { systemClock } from '../core/clock.js';
import { parseBootConfig } from '../core/config/index.js';
import { isAppError } from '../core/errors.js';
import { TargetGuard } from '../core/net/ssrf.js';
import { type CheckReport, stageOf } from './model.js';
import { doctorSmtp, doctorTransport, smtpTarget, type TransportDeps } from './service.js';

/**
 * `doctor transport` against the local provider stand-ins (test/support/providers.ts) and small
 * servers speaking the providers' documented answers: a healthy API passes dns, tcp and auth;
 * a wrong key, a Mailgun domain the account does not have, an SES signature made with the wrong
 * secret and an API that never answers each fail at `auth` with their hint; no key is shown.
 */

const POSTMARK_TOKEN = 'pm-token-never-shown-31';
const SENDGRID_KEY = 'SG.key-never-shown-47';
const SES_SECRET = 'ses/secret+never-shown-59';

/** The doctor's deps for FACTEUR_TRANSPORTS=`transports`, as the CLI builds them. */
function depsFor(transports: string, env: Record<string, string> = {}): TransportDeps {
  const parsed = parseBootConfig({
    FACTEUR_TRANSPORTS: transports,
    FACTEUR_ALLOW_PRIVATE_TARGETS: LOOPBACK_TARGETS,
    FACTEUR_SMTP_CONNECT_TIMEOUT: '2s',
    FACTEUR_SMTP_SEND_TIMEOUT: '5s',
    ...env,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return {
    clock: systemClock,
    guard: new TargetGuard(parsed.config.network.privateTargets),
    smtp: smtpTarget(parsed.config),
  };
}

const stage = stageOf;

/** A local HTTP server answering every request with `answer` (or never, for `hang`). */
async function startApi(
  answer: ((request: IncomingMessage, response: ServerResponse) => void) | 'hang',
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    request.resume();
    if (answer !== 'hang') request.on('end', () => answer(request, response));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const apiBase = (url: string) => `api_base=${encodeURIComponent(url)}`;

describe('doctor transport (provider APIs)', () => {
  let postmark: ProviderServer;
  let sendgrid: ProviderServer;
  let ses: ProviderServer;

  beforeAll(async () => {
    postmark = await startPostmarkServer({ token: POSTMARK_TOKEN });
    sendgrid = await startSendgridServer({ apiKey: SENDGRID_KEY });
    ses = await startSesServer({ secretAccessKey: SES_SECRET });
  });
  afterAll(async () => {
    await postmark?.close();
    await sendgrid?.close();
    await ses?.close();
  });

  it('passes every stage of a healthy API: dns, tcp, tls (http:// stand-in), auth', async () => {
    const deps = depsFor(`${postmark.transportUrl()},${ses.transportUrl({ name: 'ses-eu' })}`);
    const report = await doctorTransport(deps, 'postmark');
    expect(report).toMatchObject({
      check: 'provider',
      target: postmark.url,
      transport: 'postmark',
      ok: true,
    });
    expect(report.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['tcp', 'ok'],
      ['tls', 'skipped'],
      ['auth', 'ok'],
    ]);
    expect(stage(report, 'tls')?.message).toContain('api_base is http://');
    expect(stage(report, 'auth')?.detail).toMatchObject({
      request: 'GET /server',
      provider: 'postmark',
      status: 200,
    });
    expect(postmark.received).toBe(0); // nothing was sent

    const signed = await doctorTransport(deps, 'SES-EU'); // names are found ignoring case
    expect(signed.ok).toBe(true);
    expect(stage(signed, 'auth')?.detail).toMatchObject({
      request: 'GET /v2/email/account',
      region: 'eu-west-1',
      accessKeyId: 'AKIAFACTEURTEST',
    });
    expect(JSON.stringify([report, signed])).not.toContain(SES_SECRET);
  });

  it('fails auth on a wrong key with the hint for that provider, and never shows the key', async () => {
    const wrongToken = 'pm-wrong-token-never-shown-83';
    const wrongSecret = 'ses/wrong+secret-never-shown';
    const deps = depsFor(
      [
        postmark.transportUrl({ key: wrongToken }),
        sendgrid.transportUrl({ key: 'SG.wrong-key-never-shown' }),
        ses.transportUrl({ key: wrongSecret }),
      ].join(','),
    );
    const pm = await doctorTransport(deps, 'postmark');
    expect(pm.ok).toBe(false);
    expect(stage(pm, 'auth')).toMatchObject({
      outcome: 'failed',
      errorCode: 'PROVIDER_AUTH',
      detail: { status: 401, request: 'GET /server' },
    });
    expect(stage(pm, 'auth')?.message).toMatch(/^postmark refused the credentials \(401\)/);
    expect(stage(pm, 'auth')?.hint).toContain('Server API token');

    const sg = await doctorTransport(deps, 'sendgrid');
    expect(stage(sg, 'auth')).toMatchObject({ outcome: 'failed', errorCode: 'PROVIDER_AUTH' });
    expect(stage(sg, 'auth')?.hint).toMatch(/SendGrid refused the API key.*Mail Send/);

    const aws = await doctorTransport(deps, 'ses');
    expect(stage(aws, 'auth')).toMatchObject({
      outcome: 'failed',
      errorCode: 'PROVIDER_AUTH',
      detail: { status: 403, providerCode: 'InvalidSignatureException' },
    });
    expect(stage(aws, 'auth')?.hint).toMatch(/secret access key is wrong, or the region \(eu-west-1\)/);

    const shown = JSON.stringify([pm, sg, aws]);
    for (const secret of [
      wrongToken,
      'SG.wrong-key-never-shown',
      wrongSecret,
      encodeURIComponent(wrongSecret),
    ])
      expect(shown).not.toContain(secret);
  });

  it('names a Mailgun domain the account does not have, and an API that never answers', async () => {
    const mailgun = await startApi((request, response) => {
      response.writeHead(request.url === '/v3/domains/mg.example.com' ? 404 : 500, {
        'content-type': 'application/json',
      });
      response.end(JSON.stringify({ message: 'Domain not found: mg.example.com' }));
    });
    const silent = await startApi('hang');
    try {
      const deps = depsFor(
        [
          `mailgun://key-mg-never-shown@api.mailgun.net/mg.example.com?${apiBase(mailgun.url)}`,
          `sendgrid://SG.silent-key@api.sendgrid.com?${apiBase(silent.url)}&name=slow`,
        ].join(','),
        { FACTEUR_SMTP_SEND_TIMEOUT: '500ms' },
      );
      const mg = await doctorTransport(deps, 'mailgun');
      expect(stage(mg, 'auth')).toMatchObject({
        outcome: 'failed',
        errorCode: 'PROVIDER_REJECTED',
        detail: { status: 404, domain: 'mg.example.com' },
      });
      expect(stage(mg, 'auth')?.hint).toMatch(
        /not in this Mailgun account, or the region is wrong.*api\.eu\.mailgun\.net/,
      );

      const slow = await doctorTransport(deps, 'slow');
      expect(stage(slow, 'tcp')?.outcome).toBe('ok');
      expect(stage(slow, 'auth')).toMatchObject({ outcome: 'failed', errorCode: 'PROVIDER_TIMEOUT' });
      expect(stage(slow, 'auth')?.hint).toContain('did not answer within 500 ms (FACTEUR_SMTP_SEND_TIMEOUT)');
      expect(JSON.stringify([mg, slow])).not.toMatch(/key-mg-never-shown|SG\.silent-key/);
    } finally {
      await mailgun.close();
      await silent.close();
    }
  });

  it('stops at tcp when nothing listens, and skips auth', async () => {
    const gone = await startApi('hang');
    await gone.close();
    const report = await doctorTransport(
      depsFor(`sendgrid://SG.k@api.sendgrid.com?${apiBase(gone.url)}`),
      'sendgrid',
    );
    expect(stage(report, 'tcp')).toMatchObject({ outcome: 'failed', errorCode: 'PROVIDER_UNAVAILABLE' });
    expect(stage(report, 'tcp')?.hint).toContain('nothing listens on port');
    expect(stage(report, 'auth')).toMatchObject({
      outcome: 'skipped',
      message: 'skipped: the tcp stage failed',
    });
  });

  it('doctor smtp checks the first SMTP transport, and refuses when the list has none', async () => {
    const sink = await startSmtpSink();
    try {
      const both = depsFor(`${postmark.transportUrl()},${sink.url}`);
      expect(both.smtp.server).toMatchObject({ host: '127.0.0.1', port: sink.port });
      const report = await doctorSmtp(both);
      expect(report).toMatchObject({ check: 'smtp', transport: 'smtp', ok: true });
      const relay = await doctorTransport(both, 'smtp');
      expect(relay).toMatchObject({ check: 'smtp', target: `smtp://127.0.0.1:${sink.port}`, ok: true });
    } finally {
      await sink.close();
    }
    const providersOnly = depsFor(`${postmark.transportUrl()},${sendgrid.transportUrl({ name: 'backup' })}`);
    const refused = await doctorSmtp(providersOnly).catch((error: unknown) => error);
    expect(isAppError(refused) && refused.code).toBe('VALIDATION_FAILED');
    expect((refused as Error).message).toContain(
      'no SMTP relay is configured: FACTEUR_TRANSPORTS lists only provider transports (postmark (postmark), backup (sendgrid))',
    );
    const unknown = await doctorTransport(providersOnly, 'mailgun').catch((error: unknown) => error);
    expect(isAppError(unknown) && unknown.code).toBe('NOT_FOUND');
    expect((unknown as Error).message).toContain('the transports are: postmark, backup');
  });
});

const skip = await databaseSkipReason();

describe.skipIf(skip)('POST /api/doctor/transport', () => {
  let postmark: ProviderServer;
  let app: TestFacteur;

  beforeAll(async () => {
    postmark = await startPostmarkServer({ token: POSTMARK_TOKEN });
    app = await startTestFacteur({ FACTEUR_TRANSPORTS: postmark.transportUrl({ name: 'pm' }) });
  });
  afterAll(async () => {
    await app?.close();
    await postmark?.close();
  });

  it('checks a provider transport by name, 404 for an unknown one, 400 for doctor smtp without a relay', async () => {
    const ok = await app.request<CheckReport>('POST', '/api/doctor/transport', { body: { transport: 'pm' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ check: 'provider', transport: 'pm', ok: true });
    expect(ok.body.stages.map((s) => s.stage)).toEqual(['dns', 'tcp', 'tls', 'auth']);
    expect(JSON.stringify(ok.body)).not.toContain(POSTMARK_TOKEN);

    const unknown = await app.request<{ error: { code: string } }>('POST', '/api/doctor/transport', {
      body: { transport: 'catcher' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');

    const smtp = await app.request<{ error: { code: string; message: string } }>('POST', '/api/doctor/smtp', {
      body: {},
    });
    expect(smtp.status).toBe(400);
    expect(smtp.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(smtp.body.error.message).toContain(
      'FACTEUR_TRANSPORTS lists only provider transports (pm (postmark))',
    );
  });
});
