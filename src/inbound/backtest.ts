import { z } from 'zod';
import {
  type Evaluation,
  evaluateRules,
  type Rule,
  ruleInputSchema,
  ruleSettingsSchema,
} from '../rules/index.js';
import { storedEmail } from './email.js';
import type { Inbound } from './service.js';
import { listRecentParsedRows } from './store.js';

/**
 * Rule backtests: a candidate rule set (or the current one) run over the last N messages of
 * the ledger, answering what each would have matched and sent. Pure evaluation: nothing is
 * written, published or sent.
 */

/** POST /api/rules/backtest. */
export const backtestInputSchema = z.strictObject({
  rules: z
    .array(ruleInputSchema)
    .max(200)
    .optional()
    .describe('The candidate rules, in order. Omitted: the current rules.'),
  settings: ruleSettingsSchema.optional().describe('Candidate rule settings. Omitted: the current ones.'),
  last: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .prefault(50)
    .describe('How many of the newest parsed messages to run over.'),
  at: z
    .enum(['received', 'now'])
    .prefault('received')
    .describe("Evaluate time windows and dates at each message's arrival (default) or now."),
});
export type BacktestInput = z.infer<typeof backtestInputSchema>;

/** Runs the backtest. */
export async function runBacktest(inbound: Inbound, input: BacktestInput) {
  const current = await inbound.rules.current();
  const rules: Rule[] = input.rules
    ? input.rules.map((rule, position) => ({ ...rule, id: `candidate-${position + 1}`, position }))
    : current.rules;
  const settings = input.settings ?? current.settings;
  const endpoints = await inbound.webhooks.endpoints.all();
  const rows = await listRecentParsedRows(inbound.store.db, input.last);
  const now = inbound.clock.now();
  const results = rows.map((row) => {
    const receivedAt = Number(row.received_at);
    const evaluation: Evaluation = evaluateRules(rules, settings, storedEmail(row.email as string), {
      now: input.at === 'now' ? now : receivedAt,
      emailId: row.id,
      source: row.source as 'imap' | 'gmail' | 'raw',
      receivedAt,
      endpointSchedule: (id) => {
        const endpoint = endpoints.get(id);
        if (!endpoint) return null;
        const { timeZone, timeWindow, absenceWeekdays } = endpoint.settings;
        return { timeZone, window: timeWindow, absenceWeekdays };
      },
    });
    return {
      id: row.id,
      subject: row.subject,
      from: row.from_address,
      receivedAt: new Date(receivedAt).toISOString(),
      stateNow: row.state,
      outcome: evaluation.outcome,
      skipReason: evaluation.skipReason ?? null,
      matchedRules: evaluation.matchedRules,
      would: evaluation.decisions.map((d) =>
        d.kind === 'webhook'
          ? {
              kind: d.kind,
              ruleId: d.ruleId,
              endpointId: d.endpointId,
              endpointExists: endpoints.has(d.endpointId),
              eventType: d.eventType,
              outsideWindow: d.ignoreWindow,
              payload: d.payload,
            }
          : d,
      ),
      tags: evaluation.tags,
      stopped: evaluation.stopped,
      trace: evaluation.trace,
    };
  });
  return { results, rules: rules.length, messages: rows.length };
}
