import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import { JobDeferral } from '../core/jobs/index.js';
import { silentLogger } from '../core/observability/index.js';
import type { BudgetGrant, SendGate, SlowDownResult } from './budget.js';
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
const ok: SendResult = { smtpCode: 250, smtpResponse: '250 ok', accepted: ['b@example.com'], rejected: [] };
const signal = new AbortController().signal;

function transport(name: string, answers: Array<SendResult | AppError>) {
  const calls: string[] = [];
  const t: MailTransport = {
    name,
    kind: name,
    reserveSend: () => ({ ok: true }),
    send: async () => {
      calls.push(name);
      const answer = answers.shift() ?? ok;
      if (answer instanceof AppError) throw answer;
      return answer;
    },
    verify: async () => undefined,
    health: () => ({ status: 'ok' }),
    close: () => undefined,
  };
  return { t, calls };
}

/** A budget that grants at once (or defers), noting what the chain hands back. */
function gate(options: { deferUntil?: number } = {}) {
  const events: string[] = [];
  let seq = 0;
  const budget: SendGate = {
    acquire: async ({ urgent, holding }) => {
      if (options.deferUntil !== undefined) throw new JobDeferral(options.deferUntil, 'no token');
      events.push(`acquire ${urgent ? 'urgent' : 'bulk'}${holding ? ' holding' : ''}`);
      return { seq: ++seq, at: 0 } satisfies BudgetGrant;
    },
    release: (grant, end) => void events.push(`release ${grant.seq} ${end.taken ? 'taken' : 'not taken'}`),
    slowDown: async ({ retryAfterMs }): Promise<SlowDownResult> => {
      events.push(`slow ${retryAfterMs ?? '-'}`);
      return { slowed: true, share: 0.5, retryAt: 12_345 };
    },
    close: () => undefined,
  };
  return { budget, events };
}

const chain = (transports: MailTransport[], budgets: Record<string, SendGate>) =>
  new TransportChain(transports, {
    logger: silentLogger(),
    metrics: new Registry(),
    budgets: new Map(Object.entries(budgets)),
  });

describe('TransportChain with rate budgets', () => {
  it('takes a token before the send and hands it back as taken', async () => {
    const smtp = transport('smtp', [ok]);
    const { budget, events } = gate();
    const outcome = await chain([smtp.t], { smtp: budget }).send(message, { signal, urgent: false });
    expect(outcome).toMatchObject({ ok: true, transport: 'smtp' });
    expect(events).toEqual(['acquire bulk', 'release 1 taken']);
  });

  it('defers the run when the token is far off, without trying the next transport', async () => {
    const first = transport('postmark', []);
    const second = transport('ses', []);
    const { budget } = gate({ deferUntil: 99_000 });
    await expect(
      chain([first.t, second.t], { postmark: budget }).send(message, { signal }),
    ).rejects.toBeInstanceOf(JobDeferral);
    expect([...first.calls, ...second.calls]).toEqual([]);
  });

  it('answers a 429 of a budgeted provider with a slow-down and a wait, not a failover', async () => {
    const limited = providerError('PROVIDER_RATE_LIMITED', 'postmark answered 429', {
      provider: 'postmark',
      notTaken: true,
      retryAfterMs: 2000,
    });
    const first = transport('postmark', [limited]);
    const second = transport('ses', [ok]);
    const { budget, events } = gate();
    const outcome = await chain([first.t, second.t], { postmark: budget }).send(message, {
      signal,
      deferredByBudget: true,
    });
    expect(outcome).toMatchObject({
      ok: false,
      transport: 'postmark',
      retryAt: 12_345,
      error: { code: 'RATE_LIMITED' },
    });
    expect(second.calls).toEqual([]);
    expect(events).toEqual(['acquire urgent holding', 'release 1 not taken', 'slow 2000']);
  });

  it('keeps the failover rules for a transport without a budget', async () => {
    const limited = new AppError('SMTP_TRANSIENT', '421 4.7.0 slow down', {
      details: { smtpCode: 421, smtpResponse: '421 4.7.0 slow down' },
    });
    const first = transport('smtp', [limited]);
    const second = transport('ses', [ok]);
    const { budget, events } = gate();
    const outcome = await chain([first.t, second.t], { ses: budget }).send(message, { signal });
    expect(outcome).toMatchObject({ ok: true, transport: 'ses', passedOver: ['smtp'] });
    expect(events).toEqual(['acquire urgent', 'release 1 taken']);
  });

  it('slows down when recipients were deferred with a rate limit although the message went', async () => {
    const partial: SendResult = {
      ...ok,
      rejected: [{ address: 'c@example.com', smtpCode: 451, smtpResponse: '451 4.7.1 rate limited' }],
    };
    const smtp = transport('smtp', [partial]);
    const { budget, events } = gate();
    await chain([smtp.t], { smtp: budget }).send(message, { signal });
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['acquire urgent', 'release 1 taken', 'slow -']);
  });
});
