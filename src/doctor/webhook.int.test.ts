import { describe, expect, it } from 'vitest';
import { databaseSkipReason } from '../../test/support/database.js';
import { type Json, useWebhookSuite, verifySignature } from '../../test/support/webhooks.js';
import { TargetGuard } from '../core/net/ssrf.js';
import { type CheckReport, stageOf } from './model.js';
import { doctorWebhook, smtpTarget } from './service.js';

/**
 * `POST /api/doctor/webhook` and `POST /api/doctor/smtp` on a started instance: a healthy
 * receiver gets a signed request it can verify, a receiver answering 500 fails the request stage
 * with its hint, a private receiver without permission fails the ssrf stage; the SMTP check of
 * the built-in catcher passes and sends, a bad URL is a 400 naming the field.
 */

const skip = await databaseSkipReason();

const stage = stageOf;

describe.skipIf(skip)('doctor webhook and smtp routes', () => {
  const suite = useWebhookSuite();

  it('checks a healthy endpoint: every stage ok, the signed test request received and verified', async () => {
    const endpoint = await suite.api.createEndpoint({ name: 'doctor healthy' });
    const answer = await suite.app.request<CheckReport>('POST', '/api/doctor/webhook', {
      body: { endpoint: 'doctor healthy' },
    });
    expect(answer.status).toBe(200);
    const report = answer.body;
    expect(report).toMatchObject({ check: 'webhook', target: 'doctor healthy', ok: true });
    expect(report.stages.map((s) => [s.stage, s.outcome])).toEqual([
      ['dns', 'ok'],
      ['ssrf', 'ok'],
      ['tcp', 'ok'],
      ['request', 'ok'],
    ]);
    expect(stage(report, 'ssrf').detail.verdicts).toEqual([
      '127.0.0.1 allowed (loopback, FACTEUR_ALLOW_PRIVATE_TARGETS)',
    ]);
    expect(stage(report, 'request').detail).toMatchObject({
      status: 200,
      signed: true,
      body: '{"success":true}',
    });
    const [received] = await suite.receiver.waitForRequests(1);
    expect(verifySignature(endpoint.secret, received?.headers ?? {}, received?.text() ?? '')).toBe(true);
    expect(received?.headers['webhook-id']).toBe(stage(report, 'request').detail.webhookId);
    expect(JSON.stringify(report)).not.toContain(endpoint.secret);
    // By id as well as by name.
    const byId = await suite.app.request<CheckReport>('POST', '/api/doctor/webhook', {
      body: { endpoint: endpoint.id },
    });
    expect(byId.body.ok).toBe(true);
  });

  it('fails the request stage of a receiver answering 500, with the hint', async () => {
    await suite.api.createEndpoint({ name: 'doctor failing' });
    suite.receiver.respond({ status: 500, body: 'database is down' });
    const answer = await suite.app.request<CheckReport>('POST', '/api/doctor/webhook', {
      body: { endpoint: 'doctor failing' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.ok).toBe(false);
    const request = stage(answer.body, 'request');
    expect(request).toMatchObject({
      outcome: 'failed',
      errorCode: 'WEBHOOK_SERVER_ERROR',
      detail: { status: 500, body: 'database is down' },
    });
    expect(request.hint).toMatch(/receiver failed on its side/);
  });

  it('fails the ssrf stage of a private receiver the server does not allow, sending nothing', async () => {
    const endpoint = await suite.api.createEndpoint({ name: 'doctor private' });
    const { facteur } = suite.app;
    const report = await doctorWebhook(
      {
        clock: facteur.webhooks.clock,
        guard: new TargetGuard(), // FACTEUR_ALLOW_PRIVATE_TARGETS unset: public addresses only
        smtp: smtpTarget(facteur.config),
        webhooks: facteur.webhooks,
        inbound: facteur.inbound,
        live: true,
      },
      endpoint.id,
    );
    expect(report.ok).toBe(false);
    const ssrf = stage(report, 'ssrf');
    expect(ssrf).toMatchObject({ outcome: 'failed', errorCode: 'TARGET_FORBIDDEN' });
    expect(ssrf.detail.verdicts).toEqual(['127.0.0.1 refused (loopback)']);
    expect(ssrf.message).toMatch(/loopback addresses are not allowed/);
    expect(ssrf.hint).toMatch(/FACTEUR_ALLOW_PRIVATE_TARGETS/);
    expect(stage(report, 'tcp').outcome).toBe('skipped');
    expect(stage(report, 'request').outcome).toBe('skipped');
    expect(suite.receiver.requests).toHaveLength(0);
  });

  it('answers 404 naming an unknown endpoint, and 400 for a missing field', async () => {
    const unknown = await suite.app.request<Json>('POST', '/api/doctor/webhook', {
      body: { endpoint: 'nope' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'NOT_FOUND' });
    expect(unknown.body.error.message).toContain('"nope"');
    const missing = await suite.app.request<Json>('POST', '/api/doctor/webhook', { body: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details).toEqual([expect.objectContaining({ field: 'endpoint' })]);
  });

  it('checks the built-in catcher through the API and sends it a test message', async () => {
    const answer = await suite.app.request<CheckReport>('POST', '/api/doctor/smtp', {
      body: { sendTo: 'doctor@example.com' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.ok, JSON.stringify(answer.body)).toBe(true);
    expect(answer.body.stages.map((s) => s.stage)).toEqual([
      'dns',
      'tcp',
      'greeting',
      'ehlo',
      'tls',
      'auth',
      'send',
      'timeouts',
    ]);
    expect(stage(answer.body, 'tls')).toMatchObject({ outcome: 'skipped' });
    const caught = await suite.app.request<Json>('GET', '/api/catcher/messages');
    expect(caught.body.messages).toEqual([
      expect.objectContaining({ to: ['doctor@example.com'], subject: 'Facteur doctor test message' }),
    ]);
    // A bare POST checks the configured transport too.
    const bare = await suite.app.request<CheckReport>('POST', '/api/doctor/smtp');
    expect(bare.status).toBe(200);
    expect(bare.body.check).toBe('smtp');
  });

  it('refuses a malformed URL with 400 naming the field, and judges a caller URL with the guard', async () => {
    const bad = await suite.app.request<Json>('POST', '/api/doctor/smtp', {
      body: { url: 'http://mail.example.com' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(bad.body.error.details).toEqual([expect.objectContaining({ in: 'body', field: 'url' })]);
    const badTo = await suite.app.request<Json>('POST', '/api/doctor/smtp', {
      body: { sendTo: 'not an address' },
    });
    expect(badTo.status).toBe(400);
    expect(badTo.body.error.details).toEqual([expect.objectContaining({ field: 'sendTo' })]);
    // Metadata addresses are refused whatever FACTEUR_ALLOW_PRIVATE_TARGETS says.
    const metadata = await suite.app.request<CheckReport>('POST', '/api/doctor/smtp', {
      body: { url: 'smtp://user:hunter2@169.254.169.254:25' },
    });
    expect(metadata.status).toBe(200);
    expect(stage(metadata.body, 'ssrf')).toMatchObject({ outcome: 'failed', errorCode: 'TARGET_FORBIDDEN' });
    expect(stage(metadata.body, 'ssrf').hint).toMatch(/metadata/);
    expect(stage(metadata.body, 'tcp').outcome).toBe('skipped');
    expect(JSON.stringify(metadata.body)).not.toContain('hunter2');
  });
});
