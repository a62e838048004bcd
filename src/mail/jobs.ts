import type { QueueDefinition } from '../core/jobs/index.js';
import {
  deliverMessage,
  type MailDeps,
  onSendReplayed,
  onSendSettled,
  SEND_QUEUE,
  type SendJobPayload,
} from './service.js';
import type { SmtpTransport } from './transport.js';

/** The `mail.send` queue: one job per message, retried on the configured schedule. */
export function sendQueue(
  deps: MailDeps & { transport: SmtpTransport; concurrency: number },
): QueueDefinition<SendJobPayload> {
  return {
    name: SEND_QUEUE,
    concurrency: deps.concurrency,
    retry: { kind: 'schedule', delaysMs: deps.retryScheduleMs, jitter: 0.1 },
    handle: (job, context) => deliverMessage(deps, job, context),
    onSettled: (tx, job, settlement) => onSendSettled(deps, tx, job, settlement),
    onReplayed: (tx, job) => onSendReplayed(deps, tx, job),
  };
}
