import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import { JobDeferral } from '../core/jobs/index.js';
import { silentLogger } from '../core/observability/index.js';
import { TransportChain } from './failover.js';
import { providerError } from './providers/model.js';
import type { MailTransport, OutboundMessage, SendResult } from './transport.js';

const message: OutboundMessage = {
  from: 'a@example.com',
  to: ['b@example.com'],
  cc: [],
  bcc: [],
  subject: 's',
  text: 't',
  headers: {},
  messageId: '<m@example.com>',
};
const ok: SendResult = {
  smtpCode: null,
  smtpResponse: 'HTTP 200',
  accepted: ['b@example.com'],
  rejected: [],
};

/** A transport that answers from a script: a result, an error, or refused by its breaker until `retryAt`. */
function fake(name: string, kind: string, answer: SendResult | AppError | { openUntil: number }) {
  const calls: string[] = [];
  const transport: MailTransport = {
    name,
    kind,
    reserveSend: () => ('openUntil' in answer ? { ok: false, retryAt: answer.openUntil } : { ok: true }),
    send: async () => {
      calls.push(name);
      if (answer instanceof AppError) throw answer;
      return answer as SendResult;
    },
    verify: async () => undefined,
    health: () => ({ status: 'ok' }),
    close: () => undefined,
  };
  return { transport, calls };
}
const chainOf = (...transports: MailTransport[]) =>
  new TransportChain(transports, { logger: silentLogger(), metrics: new Registry() });
const signal = new AbortController().signal;

describe('TransportChain', () => {
  it('passes over an open breaker and a provably refused send, and names who took it', async () => {
    const open = fake('smtp', 'smtp', { openUntil: 5000 });
    const down = fake(
      'postmark',
      'postmark',
      providerError('PROVIDER_UNAVAILABLE', 'down', { provider: 'postmark', notTaken: true }),
    );
    const up = fake('ses', 'ses', ok);
    const outcome = await chainOf(open.transport, down.transport, up.transport).send(message, { signal });
    expect(outcome).toMatchObject({ ok: true, transport: 'ses', passedOver: ['smtp', 'postmark'] });
  });

  it('stops at an ambiguous failure: the next transport is never called', async () => {
    const hung = fake(
      'postmark',
      'postmark',
      providerError('PROVIDER_TIMEOUT', 'slow', { provider: 'postmark', notTaken: false }),
    );
    const next = fake('ses', 'ses', ok);
    const outcome = await chainOf(hung.transport, next.transport).send(message, { signal });
    expect(outcome).toMatchObject({ ok: false, transport: 'postmark', error: { code: 'PROVIDER_TIMEOUT' } });
    expect(next.calls).toEqual([]);
  });

  it('stops at a permanent refusal', async () => {
    const refused = fake(
      'sendgrid',
      'sendgrid',
      providerError('PROVIDER_REJECTED', 'bad address', { provider: 'sendgrid', notTaken: false }),
    );
    const next = fake('ses', 'ses', ok);
    const outcome = await chainOf(refused.transport, next.transport).send(message, { signal });
    expect(outcome).toMatchObject({ ok: false, transport: 'sendgrid' });
    expect(next.calls).toEqual([]);
  });

  it('when all refused provably, the last error ends the run (retried later)', async () => {
    const a = fake(
      'a',
      'postmark',
      providerError('PROVIDER_RATE_LIMITED', '429', { provider: 'a', notTaken: true }),
    );
    const b = fake('b', 'smtp', new AppError('SMTP_TRANSIENT', '451 try later'));
    const outcome = await chainOf(a.transport, b.transport).send(message, { signal });
    expect(outcome).toMatchObject({
      ok: false,
      transport: 'b',
      error: { code: 'SMTP_TRANSIENT' },
      passedOver: ['a'],
    });
  });

  it('every breaker open: a deferral until the earliest probe, SMTP_UNAVAILABLE for SMTP only', async () => {
    const providers = chainOf(
      fake('a', 'postmark', { openUntil: 9000 }).transport,
      fake('b', 'smtp', { openUntil: 7000 }).transport,
    );
    const deferral = await providers.send(message, { signal }).catch((e: unknown) => e);
    expect(deferral).toBeInstanceOf(JobDeferral);
    expect(deferral).toMatchObject({ runAt: 7000 });
    expect(providers.unavailableCode).toBe('TRANSPORT_UNAVAILABLE');
    expect(chainOf(fake('smtp', 'smtp', { openUntil: 1 }).transport).unavailableCode).toBe(
      'SMTP_UNAVAILABLE',
    );
  });
});
