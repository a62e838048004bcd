import { AppError } from '../core/errors.js';
import type { InboundEmail } from '../core/inbound-email.js';
import type { DeliverySchedule } from '../core/schedule.js';
import { type Extracted, traceGroup } from './conditions.js';
import { isReplyOrForward, senderAllowed, subjectGroupKey } from './dedupe.js';
import { findShareLinks, isUrgent } from './extractors.js';
import type { Action, Rule, RuleSettings } from './model.js';
import { compatPayload, type EmailSource, windowDecision } from './payload.js';
import { type Detection, detectPreset } from './presets.js';
import { renderTemplate } from './template.js';

/**
 * Runs the ordered rules on one message and says what to do, without doing it: the caller
 * records deliveries and forwards. Order, as in the replaced system: sender allowlist, replies
 * and forwards, then rules in position order (first match with `stopProcessing` ends the
 * list), then the default actions.
 */

/** One thing to do for the message. */
export type Decision =
  | {
      kind: 'webhook';
      ruleId: string | null;
      endpointId: string;
      eventType: string;
      payload: Record<string, unknown>;
      /** True for the one delivery that goes out despite a closed window (a non-urgent DESABO). */
      ignoreWindow: boolean;
    }
  | { kind: 'forward'; ruleId: string | null; to: string[]; subject: string };

/** Why a rule matched or not, for backtests. */
export interface RuleTrace {
  ruleId: string;
  name: string;
  matched: boolean;
  why: string;
}

/** The result of running the rules on one message. */
export interface Evaluation {
  outcome: 'matched' | 'unmatched' | 'skipped';
  skipReason?: 'sender_not_allowed' | 'reply_or_forward' | 'outside_window' | 'no_action';
  matchedRules: { id: string; name: string; detector: string | null }[];
  /** Held deliveries are here (`ignoreWindow: false`); deliveries the window skips are not. */
  decisions: Decision[];
  tags: string[];
  stopped: boolean;
  trace: RuleTrace[];
  /** The month's de-duplication key when a webhook decision exists (and de-duplication is on). */
  subjectGroup: string | null;
}

/** What evaluation needs besides the rules and the message. */
export interface EvaluationContext {
  /** Epoch ms; every time-dependent answer (windows, URGENCE, month) is computed at this instant. */
  now: number;
  emailId: string;
  source: EmailSource;
  receivedAt: number;
  /** The schedule of an endpoint; null when it has none or is unknown (the caller reports unknown ids). */
  endpointSchedule(endpointId: string): DeliverySchedule | null;
}

/** What the actions of one match are run with. */
interface MatchContext {
  ruleId: string | null;
  rule: { id: string; name: string; priority: 'normal' | 'high' } | null;
  detection: Detection | null;
}

/** Decisions under construction, and how many webhook deliveries the window skipped. */
interface Collector {
  decisions: Decision[];
  tags: Set<string>;
  skippedByWindow: number;
}

function skipped(reason: Evaluation['skipReason']): Evaluation {
  return {
    outcome: 'skipped',
    skipReason: reason,
    matchedRules: [],
    decisions: [],
    tags: [],
    stopped: false,
    trace: [],
    subjectGroup: null,
  };
}

/** Evaluates `rules` (ordered by position) on `email`. */
export function evaluateRules(
  rules: readonly Rule[],
  settings: RuleSettings,
  email: InboundEmail,
  ctx: EvaluationContext,
): Evaluation {
  if (!senderAllowed(settings.senderAllowlist, email.from?.address)) return skipped('sender_not_allowed');
  if (settings.skipRepliesAndForwards && isReplyOrForward(email.subject)) return skipped('reply_or_forward');
  const extracted: Extracted = {
    links: findShareLinks(email),
    urgent: isUrgent(email.subject) || isUrgent(email.text),
  };
  const out: Collector = { decisions: [], tags: new Set(), skippedByWindow: 0 };
  const matchedRules: Evaluation['matchedRules'] = [];
  const trace: RuleTrace[] = [];
  let stopped = false;
  let first: MatchContext | null = null;
  for (const rule of [...rules].sort((a, b) => a.position - b.position)) {
    if (stopped) {
      trace.push({
        ruleId: rule.id,
        name: rule.name,
        matched: false,
        why: 'not evaluated: processing stopped',
      });
      continue;
    }
    const result = matchRule(rule, email, extracted, ctx, settings.timeZone);
    trace.push({ ruleId: rule.id, name: rule.name, matched: result.match !== null, why: result.why });
    if (result.match === null) continue;
    matchedRules.push({ id: rule.id, name: rule.name, detector: result.match.detection?.detector ?? null });
    first ??= result.match;
    runActions(rule.actions, result.match, email, extracted, ctx, out);
    stopped = rule.stopProcessing;
  }
  const runDefaults = settings.defaultWhen === 'unmatched' ? matchedRules.length === 0 : !stopped;
  if (runDefaults && settings.defaultActions.length > 0) {
    // The replaced system's default webhook got the payload of the message as detected and
    // routed: the first match's detector and rule, or none.
    const defaults: MatchContext = { ...(first ?? { rule: null, detection: null }), ruleId: null };
    runActions(settings.defaultActions, defaults, email, extracted, ctx, out);
  }
  const hasWebhook = out.decisions.some((d) => d.kind === 'webhook');
  const subjectGroup =
    settings.dedupeSubjectGroupPerMonth && hasWebhook
      ? subjectGroupKey(email.subject, ctx.now, settings.timeZone)
      : null;
  const base = { matchedRules, decisions: out.decisions, tags: [...out.tags], stopped, trace, subjectGroup };
  return { ...base, ...outcomeOf(matchedRules.length > 0, out) };
}

function outcomeOf(matched: boolean, out: Collector): Pick<Evaluation, 'outcome' | 'skipReason'> {
  if (out.decisions.length === 0 && out.skippedByWindow > 0) {
    return { outcome: 'skipped', skipReason: 'outside_window' };
  }
  if (!matched) return { outcome: 'unmatched' };
  if (out.decisions.length === 0 && out.tags.size === 0)
    return { outcome: 'skipped', skipReason: 'no_action' };
  return { outcome: 'matched' };
}

function matchRule(
  rule: Rule,
  email: InboundEmail,
  extracted: Extracted,
  ctx: EvaluationContext,
  timeZone: string,
): { match: MatchContext | null; why: string } {
  if (!rule.enabled) return { match: null, why: 'disabled' };
  let detection: Detection | null = null;
  if (rule.preset !== undefined) {
    const result = detectPreset(rule.preset, email, extracted.links, ctx.now, timeZone);
    if ('miss' in result) return { match: null, why: result.miss };
    detection = result.detection;
  }
  const group = traceGroup(rule.when, email, extracted);
  if (!group.matched) return { match: null, why: group.why ?? 'when did not hold' };
  const info = { id: rule.id, name: rule.name, priority: rule.priority };
  const why = detection ? `matched (detector ${detection.detector})` : 'matched';
  return { match: { ruleId: rule.id, rule: info, detection }, why };
}

function runActions(
  actions: readonly Action[],
  match: MatchContext,
  email: InboundEmail,
  extracted: Extracted,
  ctx: EvaluationContext,
  out: Collector,
): void {
  for (const action of actions) {
    if (action.type === 'tag') {
      for (const tag of action.tags) out.tags.add(tag);
    } else if (action.type === 'forward') {
      const subject = `${action.subjectPrefix}${email.subject}`;
      out.decisions.push({ kind: 'forward', ruleId: match.ruleId, to: [...action.to], subject });
    } else {
      for (const endpointId of action.endpoints) {
        const decision = webhookDecision(action, endpointId, match, email, extracted, ctx);
        if (decision) out.decisions.push(decision);
        else out.skippedByWindow++;
      }
    }
  }
}

type WebhookAction = Extract<Action, { type: 'webhook' }>;

function webhookDecision(
  action: WebhookAction,
  endpointId: string,
  match: MatchContext,
  email: InboundEmail,
  extracted: Extracted,
  ctx: EvaluationContext,
): Decision | null {
  const detection = match.detection;
  const window = windowDecision({
    detector: detection?.detector ?? null,
    urgent: detection?.urgent ?? false,
    schedule: ctx.endpointSchedule(endpointId),
    now: ctx.now,
  });
  if (window.send === 'skip') return null;
  const compat = compatPayload({
    emailId: ctx.emailId,
    email,
    source: ctx.source,
    receivedAt: ctx.receivedAt,
    detector: detection?.detector ?? null,
    deliveryTime: detection?.deliveryTime ?? null,
    webhooksTimeStart: window.webhooks_time_start,
    webhooksTimeEnd: window.webhooks_time_end,
    rule: match.rule,
    links: extracted.links,
  });
  const payload =
    action.payload.format === 'compat'
      ? compat
      : renderFor(action.payload.template, compat, email, extracted, match, endpointId);
  return {
    kind: 'webhook',
    ruleId: match.ruleId,
    endpointId,
    eventType: action.eventType,
    payload,
    ignoreWindow: window.send === 'now' && window.reason === 'outside_window',
  };
}

/** A template sees the message, its links and detection, and the compat fields it may reuse. */
function renderFor(
  template: string,
  compat: Record<string, unknown>,
  email: InboundEmail,
  extracted: Extracted,
  match: MatchContext,
  endpointId: string,
): Record<string, unknown> {
  const context = {
    email,
    links: compat['delivery_links'],
    detector: compat['detector'],
    delivery_time: compat['delivery_time'],
    rule: match.rule,
    received_at: compat['receivedDateTime'],
    email_id: compat['email_id'],
    source: compat['source'],
    webhooks_time_start: compat['webhooks_time_start'],
    webhooks_time_end: compat['webhooks_time_end'],
    urgent: match.detection?.urgent ?? extracted.urgent,
  };
  try {
    return renderTemplate(template, context);
  } catch (error) {
    if (error instanceof AppError) {
      throw new AppError(error.code, `rule ${match.ruleId ?? '(default actions)'}: ${error.message}`, {
        details: { ruleId: match.ruleId, endpointId },
        cause: error,
      });
    }
    throw error;
  }
}
