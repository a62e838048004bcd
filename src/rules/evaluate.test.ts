import { describe, expect, it } from 'vitest';
import { at, makeEmail } from '../../test/support/email-fixture.js';
import { AppError } from '../core/errors.js';
import type { InboundEmail } from '../core/inbound-email.js';
import type { DeliverySchedule } from '../core/schedule.js';
import { type EvaluationContext, evaluateRules } from './evaluate.js';
import { type Rule, type RuleSettings, ruleInputSchema, ruleSettingsSchema } from './model.js';

const INSIDE = at('2025-06-02T08:00:00Z'); // Monday 10:00 in Paris
const OUTSIDE = at('2025-06-02T18:30:00Z'); // Monday 20:30 in Paris
const OFFICE: DeliverySchedule = {
  timeZone: 'Europe/Paris',
  window: { start: 540, end: 1080 },
  absenceWeekdays: [],
};

function rules(...inputs: unknown[]): Rule[] {
  return inputs.map((input, position) => ({
    ...ruleInputSchema.parse(input),
    id: `r${position + 1}`,
    position,
  }));
}

function settings(input: unknown = {}): RuleSettings {
  return ruleSettingsSchema.parse(input);
}

function ctx(now = INSIDE, schedules: Record<string, DeliverySchedule | null> = {}): EvaluationContext {
  return {
    now,
    emailId: 'e_1',
    source: 'imap',
    receivedAt: at('2025-06-02T07:59:00Z'),
    endpointSchedule: (id) => (id in schedules ? (schedules[id] ?? null) : OFFICE),
  };
}

const recadrageEmail = makeEmail({
  subject: 'Média Solution - Missions Recadrage - Lot 42',
  text: 'Bonjour, à faire pour 16h00. https://www.dropbox.com/scl/fi/a/lot42.zip?rlkey=k&dl=0',
});
const desaboEmail = makeEmail({
  subject: 'Demande',
  text: 'Je souhaite me désabonner de la journée aux tarifs habituels.',
});
const plainEmail = makeEmail({ subject: 'Facture 42', text: 'Voici la facture.' });

const recadrageRule = {
  name: 'Recadrage',
  preset: 'recadrage',
  priority: 'high',
  actions: [{ type: 'webhook', endpoints: ['ep_a'] }],
};
const desaboRule = { name: 'Desabo', preset: 'desabo', actions: [{ type: 'webhook', endpoints: ['ep_a'] }] };
const invoiceRule = {
  name: 'Factures',
  when: { all: [{ field: 'subject', operator: 'startsWith', value: 'facture' }] },
  actions: [{ type: 'webhook', endpoints: ['ep_b'] }],
};

function run(email: InboundEmail, list: Rule[], options: { settings?: unknown; now?: number } = {}) {
  return evaluateRules(list, settings(options.settings), email, ctx(options.now));
}

describe('evaluateRules: skips before the rules', () => {
  it('skips a sender not on the allowlist', () => {
    const result = run(plainEmail, rules(invoiceRule), { settings: { senderAllowlist: ['@acme.fr'] } });
    expect(result).toMatchObject({ outcome: 'skipped', skipReason: 'sender_not_allowed', decisions: [] });
  });

  it('skips replies and forwards unless told not to', () => {
    const reply = makeEmail({ subject: 'RE : Facture 42' });
    expect(run(reply, rules(invoiceRule))).toMatchObject({
      outcome: 'skipped',
      skipReason: 'reply_or_forward',
    });
    const kept = run(reply, rules({ ...invoiceRule, when: { all: [] } }), {
      settings: { skipRepliesAndForwards: false },
    });
    expect(kept.outcome).toBe('matched');
  });
});

describe('evaluateRules: presets and windows', () => {
  it('delivers a recadrage inside the window with the compat payload', () => {
    const result = run(recadrageEmail, rules(recadrageRule));
    expect(result.outcome).toBe('matched');
    expect(result.matchedRules).toEqual([{ id: 'r1', name: 'Recadrage', detector: 'recadrage' }]);
    expect(result.decisions).toHaveLength(1);
    expect(result.decisions[0]).toMatchObject({
      kind: 'webhook',
      ruleId: 'r1',
      endpointId: 'ep_a',
      eventType: 'inbound.email',
      ignoreWindow: false,
      payload: {
        email_id: 'e_1',
        source: 'imap',
        receivedDateTime: '2025-06-02T07:59:00.000Z',
        detector: 'recadrage',
        delivery_time: '16h00',
        webhooks_time_start: 'maintenant',
        webhooks_time_end: '18h00',
        routing_rule: { id: 'r1', name: 'Recadrage', priority: 'high' },
        delivery_links: [
          expect.objectContaining({ provider: 'dropbox', direct_url: expect.stringContaining('dl=1') }),
        ],
      },
    });
    expect(result.subjectGroup).toBeNull(); // de-duplication is off by default
    const deduped = run(recadrageEmail, rules(recadrageRule), {
      settings: { dedupeSubjectGroupPerMonth: true },
    });
    expect(deduped.subjectGroup).toBe('media_solution_missions_recadrage_lot_42:2025-06');
  });

  it('skips a recadrage outside the window', () => {
    const result = run(recadrageEmail, rules(recadrageRule), { now: OUTSIDE });
    expect(result).toMatchObject({
      outcome: 'skipped',
      skipReason: 'outside_window',
      decisions: [],
      subjectGroup: null,
    });
    expect(result.matchedRules).toHaveLength(1);
  });

  it('sends a non-urgent DESABO outside the window past it, with the window start', () => {
    const [decision] = run(desaboEmail, rules(desaboRule), { now: OUTSIDE }).decisions;
    expect(decision).toMatchObject({
      ignoreWindow: true,
      payload: {
        detector: 'desabonnement_journee_tarifs',
        webhooks_time_start: '09h00',
        delivery_time: null,
      },
    });
  });

  it('holds an urgent DESABO outside the window', () => {
    const urgent = makeEmail({ ...desaboEmail, subject: 'URGENT' });
    const [decision] = run(urgent, rules(desaboRule), { now: OUTSIDE }).decisions;
    expect(decision).toMatchObject({ ignoreWindow: false, payload: { webhooks_time_start: 'maintenant' } });
  });

  it('holds an ordinary message outside the window (the decision stays, the window applies)', () => {
    const result = run(plainEmail, rules(invoiceRule), { now: OUTSIDE });
    expect(result.outcome).toBe('matched');
    expect(result.decisions).toEqual([expect.objectContaining({ endpointId: 'ep_b', ignoreWindow: false })]);
  });

  it('does not match a preset rule whose detector misses, and says why', () => {
    const result = run(plainEmail, rules(recadrageRule));
    expect(result.outcome).toBe('unmatched');
    expect(result.trace).toEqual([
      {
        ruleId: 'r1',
        name: 'Recadrage',
        matched: false,
        why: expect.stringMatching(/^recadrage: the subject/),
      },
    ]);
  });

  it('needs both the detector and the when of a preset rule', () => {
    const narrowed = {
      ...recadrageRule,
      when: { all: [{ field: 'from.domain', operator: 'equals', value: 'acme.fr' }] },
    };
    const result = run(recadrageEmail, rules(narrowed));
    expect(result.outcome).toBe('unmatched');
    expect(result.trace[0]?.why).toMatch(/when.all\[0\] \(from.domain equals "acme.fr"\) did not hold/);
  });

  it('produces the decision for an endpoint without a schedule (unknown to the caller)', () => {
    const result = evaluateRules(
      rules(recadrageRule),
      settings(),
      recadrageEmail,
      ctx(OUTSIDE, { ep_a: null }),
    );
    expect(result.decisions).toEqual([
      expect.objectContaining({
        endpointId: 'ep_a',
        ignoreWindow: false,
        payload: expect.objectContaining({ webhooks_time_start: null }),
      }),
    ]);
  });
});

describe('evaluateRules: order, stop and defaults', () => {
  const catchAll = { name: 'Tout', actions: [{ type: 'tag', tags: ['vu'] }] };
  const stopper = { ...invoiceRule, stopProcessing: true };

  it('runs rules in position order, skips disabled ones, and stops at stopProcessing', () => {
    const list = rules({ ...catchAll, enabled: false }, stopper, catchAll);
    const shuffled = [list[2]!, list[0]!, list[1]!];
    const result = run(plainEmail, shuffled);
    expect(result.trace.map((t) => [t.ruleId, t.matched, t.why])).toEqual([
      ['r1', false, 'disabled'],
      ['r2', true, 'matched'],
      ['r3', false, 'not evaluated: processing stopped'],
    ]);
    expect(result).toMatchObject({ stopped: true, tags: [] });
  });

  it('runs default actions only when nothing matched, by default', () => {
    const defaults = { defaultActions: [{ type: 'webhook', endpoints: ['ep_default'] }] };
    const unmatched = run(makeEmail({ subject: 'Bonjour' }), rules(invoiceRule), { settings: defaults });
    expect(unmatched.outcome).toBe('unmatched');
    expect(unmatched.decisions).toEqual([
      expect.objectContaining({
        ruleId: null,
        endpointId: 'ep_default',
        payload: expect.objectContaining({ routing_rule: null }),
      }),
    ]);
    const matched = run(plainEmail, rules(invoiceRule), { settings: defaults });
    expect(matched.decisions.map((d) => d.kind === 'webhook' && d.endpointId)).toEqual(['ep_b']);
  });

  it('with not_stopped, also sends matched messages to the defaults, with the match as routing_rule', () => {
    const defaults = {
      defaultWhen: 'not_stopped',
      defaultActions: [{ type: 'webhook', endpoints: ['ep_default'] }],
    };
    const result = run(recadrageEmail, rules(recadrageRule), { settings: defaults });
    expect(result.decisions.map((d) => d.kind === 'webhook' && d.endpointId)).toEqual(['ep_a', 'ep_default']);
    expect(result.decisions[1]).toMatchObject({
      ruleId: null,
      payload: { detector: 'recadrage', routing_rule: { id: 'r1', name: 'Recadrage', priority: 'high' } },
    });
    const stopped = run(plainEmail, rules(stopper), { settings: defaults });
    expect(stopped.decisions.map((d) => d.kind === 'webhook' && d.endpointId)).toEqual(['ep_b']);
  });

  it('collects forwards and tags; a tag-only match is matched, a stop-only match does nothing', () => {
    const list = rules(
      {
        name: 'Fwd',
        actions: [
          { type: 'forward', to: ['boss@acme.fr'] },
          { type: 'tag', tags: ['a', 'b'] },
        ],
      },
      { name: 'Tag', actions: [{ type: 'tag', tags: ['b', 'c'] }] },
    );
    const result = run(plainEmail, list);
    expect(result.decisions).toEqual([
      { kind: 'forward', ruleId: 'r1', to: ['boss@acme.fr'], subject: 'Fwd: Facture 42' },
    ]);
    expect(result.tags).toEqual(['a', 'b', 'c']);
    expect(result.subjectGroup).toBeNull();
    expect(run(plainEmail, rules({ name: 'Tag', actions: [{ type: 'tag', tags: ['x'] }] })).outcome).toBe(
      'matched',
    );
    expect(run(plainEmail, rules({ name: 'Drop', stopProcessing: true }))).toMatchObject({
      outcome: 'skipped',
      skipReason: 'no_action',
      stopped: true,
    });
  });

  it('gives no subject group when de-duplication is off (the default)', () => {
    expect(run(plainEmail, rules(invoiceRule)).subjectGroup).toBeNull();
    expect(
      run(plainEmail, rules(invoiceRule), { settings: { dedupeSubjectGroupPerMonth: true } }).subjectGroup,
    ).toBe('facture_42:2025-06');
  });
});

describe('evaluateRules: template payloads', () => {
  const templated = (template: string) => ({
    ...recadrageRule,
    actions: [
      {
        type: 'webhook',
        endpoints: ['ep_a'],
        eventType: 'lot.ready',
        payload: { format: 'template', template },
      },
    ],
  });

  it('renders the template with the message, links, detection and rule', () => {
    const template =
      '{"lot": {{ email.subject | json }}, "at": {{ delivery_time | json }}, "by": {{ rule.name | json }}, "url": {{ links[0].direct_url | json }}, "start": {{ webhooks_time_start | json }}}';
    const [decision] = run(recadrageEmail, rules(templated(template))).decisions;
    expect(decision).toMatchObject({
      eventType: 'lot.ready',
      payload: {
        lot: 'Média Solution - Missions Recadrage - Lot 42',
        at: '16h00',
        by: 'Recadrage',
        url: 'https://www.dropbox.com/scl/fi/a/lot42.zip?dl=1&rlkey=k',
        start: 'maintenant',
      },
    });
  });

  it('fails with RULE_TEMPLATE_FAILED naming the rule when the output is not a JSON object', () => {
    try {
      run(recadrageEmail, rules(templated('{"lot": "{{ email.subject }}" ')));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('RULE_TEMPLATE_FAILED');
      expect((error as AppError).message).toMatch(/^rule r1:/);
      expect((error as AppError).details).toEqual({ ruleId: 'r1', endpointId: 'ep_a' });
    }
  });
});
