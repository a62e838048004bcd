import { z } from 'zod';
import { addressProblem } from '../core/email-address.js';
import { isValidTimeZone } from '../core/schedule.js';
import { type Condition, type Group, whenSchema } from './condition-model.js';
import { MAX_TEMPLATE_LENGTH, templateProblem } from './template.js';

/**
 * Routing rules and their settings as the API takes them, validated on write: every bad field
 * is named by its path (`actions[0].endpoints`, `when.all[1].operator`). Defaults are
 * input-side (`prefault`) so that a stored rule always holds every field.
 */

/** Conditions and groups, defined beside their schemas. */
export type { Condition, Group };

/** Event types are dotted names (the same form webhook endpoints subscribe to). */
const EVENT_TYPE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i;
const NO_LINE_BREAK = /^[^\r\n]*$/;

function unique<T>(list: readonly T[]): boolean {
  return new Set(list).size === list.length;
}

const payloadSchema = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('compat') }),
  z.strictObject({
    format: z.literal('template'),
    template: z
      .string()
      .min(1)
      .max(MAX_TEMPLATE_LENGTH)
      .superRefine((template, ctx) => {
        const problem = templateProblem(template);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('Liquid template rendering a JSON object; write strings with | json.'),
  }),
]);

const webhookActionSchema = z.strictObject({
  type: z.literal('webhook'),
  endpoints: z
    .array(z.string().min(1).max(100))
    .min(1)
    .max(20)
    .refine(unique, 'must not name an endpoint twice')
    .describe('Endpoint ids; one delivery per endpoint.'),
  eventType: z
    .string()
    .max(200)
    .regex(EVENT_TYPE, 'must be a dotted name like inbound.email (letters, digits, _ and -)')
    .prefault('inbound.email'),
  payload: payloadSchema
    .prefault({ format: 'compat' })
    .describe('`compat`: the payload of the replaced system; `template`: a Liquid template.'),
});

const forwardActionSchema = z.strictObject({
  type: z.literal('forward'),
  to: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .superRefine((address, ctx) => {
          const problem = addressProblem(address);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
    )
    .min(1)
    .max(20),
  subjectPrefix: z.string().max(50).regex(NO_LINE_BREAK, 'must not contain line breaks').prefault('Fwd: '),
});

const tagActionSchema = z.strictObject({
  type: z.literal('tag'),
  tags: z.array(z.string().trim().min(1, 'must not be empty').max(50)).min(1).max(20),
});

/** One action of a rule. */
export const actionSchema = z.discriminatedUnion('type', [
  webhookActionSchema,
  forwardActionSchema,
  tagActionSchema,
]);

/** An action, defaults applied. */
export type Action = z.output<typeof actionSchema>;

const ruleShape = {
  name: z.string().trim().min(1, 'must not be empty').max(100),
  enabled: z.boolean(),
  preset: z
    .enum(['recadrage', 'desabo'])
    .describe('A detector of the replaced system; the rule matches only when it detects and `when` holds.'),
  when: whenSchema,
  actions: z.array(actionSchema).max(20),
  stopProcessing: z.boolean().describe('Later rules are not evaluated when this one matches.'),
  priority: z.enum(['normal', 'high']),
};

/** A rule that acts on nothing and lets processing go on would be a mistake, not a choice. */
function ruleProblems(rule: { actions?: Action[]; stopProcessing?: boolean }, ctx: z.RefinementCtx): void {
  if (rule.actions !== undefined && rule.actions.length === 0 && rule.stopProcessing === false) {
    ctx.addIssue({
      code: 'custom',
      path: ['actions'],
      message: 'must hold at least one action (webhook, forward or tag) unless stopProcessing is true',
    });
  }
}

/** POST /api/rules: a rule as written, with defaults. */
export const ruleInputSchema = z
  .strictObject({
    ...ruleShape,
    enabled: ruleShape.enabled.prefault(true),
    preset: ruleShape.preset.optional(),
    when: ruleShape.when.prefault({ all: [] }),
    actions: ruleShape.actions.prefault([]),
    stopProcessing: ruleShape.stopProcessing.prefault(false),
    priority: ruleShape.priority.prefault('normal'),
  })
  .superRefine(ruleProblems);

/**
 * PATCH /api/rules/:id: any subset; `preset: null` removes the preset. Checks spanning fields
 * need the whole rule: validate the merged result with `ruleInputSchema`.
 */
export const rulePatchSchema = z
  .strictObject({ ...ruleShape, preset: ruleShape.preset.nullable() })
  .partial();

/** A rule as written and validated. */
export type RuleInput = z.output<typeof ruleInputSchema>;
/** A rule patch as validated. */
export type RulePatch = z.output<typeof rulePatchSchema>;
/** A stored rule: its id and its place in the ordered list. */
export type Rule = RuleInput & { id: string; position: number };

const allowlistEntry = z
  .string()
  .trim()
  .toLowerCase()
  .superRefine((entry, ctx) => {
    const problem = entry.startsWith('@') ? addressProblem(`x${entry}`) : addressProblem(entry);
    if (problem) ctx.addIssue({ code: 'custom', message: 'must be an address or @domain' });
  });

/** Settings of the rule engine as a whole. */
export const ruleSettingsSchema = z.strictObject({
  defaultActions: z.array(actionSchema).max(20).prefault([]),
  defaultWhen: z
    .enum(['unmatched', 'not_stopped'])
    .prefault('unmatched')
    .describe(
      '`unmatched`: default actions run when no rule matched. `not_stopped`: also after matches, unless a rule stopped processing (the replaced system).',
    ),
  skipRepliesAndForwards: z.boolean().prefault(true),
  dedupeSubjectGroupPerMonth: z
    .boolean()
    .prefault(false)
    .describe(
      'Send one message per subject group and calendar month (off by default: it would also merge unrelated senders writing the same subject).',
    ),
  senderAllowlist: z
    .array(allowlistEntry)
    .max(1000)
    .prefault([])
    .describe('Addresses or @domain entries; empty allows every sender.'),
  timeZone: z
    .string()
    .refine(isValidTimeZone, 'must be an IANA time zone like Europe/Paris')
    .prefault('Europe/Paris')
    .describe('Zone of delivery times (URGENCE) and of the monthly de-duplication.'),
});

/** Rule engine settings, defaults applied. */
export type RuleSettings = z.output<typeof ruleSettingsSchema>;

/** Settings when none were written. */
export function defaultRuleSettings(): RuleSettings {
  return ruleSettingsSchema.parse({});
}
