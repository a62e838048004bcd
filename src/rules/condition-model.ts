import { z } from 'zod';
import { LINK_PROVIDERS } from './extractors.js';
import { regexProblem } from './regex.js';

/**
 * Conditions and groups of routing rules as the API takes them. Every combination that could
 * not mean anything (an `in` without values, a regex RE2 cannot run, `is` on a text field) is
 * refused on write with the path of the bad field, so evaluation never meets one.
 */

/** What a condition can look at. */
export const CONDITION_FIELDS = [
  'from.address',
  'from.name',
  'from.domain',
  'to',
  'cc',
  'subject',
  'text',
  'html',
  'replyText',
  'header',
  'attachment.name',
  'attachment.type',
  'hasAttachment',
  'link.provider',
  'urgent',
] as const;

/** How a condition compares. */
export const OPERATORS = [
  'contains',
  'equals',
  'startsWith',
  'endsWith',
  'in',
  'domainIs',
  'regex',
  'is',
] as const;

/** A condition field. */
export type ConditionField = (typeof CONDITION_FIELDS)[number];
/** A condition operator. */
export type Operator = (typeof OPERATORS)[number];

/** Fields holding true or false; they take `is` only. */
export const BOOLEAN_FIELDS: ReadonlySet<ConditionField> = new Set(['hasAttachment', 'urgent']);
/** Fields holding addresses or domains; the only ones `domainIs` applies to. */
export const ADDRESS_FIELDS: ReadonlySet<ConditionField> = new Set([
  'from.address',
  'from.domain',
  'to',
  'cc',
]);

/** Deepest nesting of groups: the `when` group is level 1. */
export const MAX_GROUP_DEPTH = 4;

/** One test on one field of the message. */
export interface Condition {
  field: ConditionField;
  /** Header name, for field `header`. */
  header?: string;
  operator: Operator;
  value?: string;
  /** For `in`. */
  values?: string[];
  caseSensitive: boolean;
  negate: boolean;
}

/** All of, or any of, conditions and nested groups; an empty `all` always matches. */
export type Group = { all: Array<Condition | Group> } | { any: Array<Condition | Group> };

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const DOMAIN = /^[a-z0-9\u0080-\uffff-]+(\.[a-z0-9\u0080-\uffff-]+)*$/i;

const conditionShape = z.strictObject({
  field: z.enum(CONDITION_FIELDS),
  header: z.string().regex(HEADER_NAME, 'must be a header name like List-Id').max(200).optional(),
  operator: z.enum(OPERATORS),
  value: z.string().max(2000).optional(),
  values: z.array(z.string().max(2000)).min(1).max(100).optional(),
  caseSensitive: z.boolean().prefault(false),
  negate: z.boolean().prefault(false),
});

type Issue = { path: string[]; message: string };

function operandIssues(c: z.output<typeof conditionShape>): Issue[] {
  if (c.operator === 'in') {
    const issues: Issue[] = [];
    if (c.values === undefined) issues.push({ path: ['values'], message: 'is required with operator in' });
    if (c.value !== undefined)
      issues.push({ path: ['value'], message: 'is not used with operator in; use values' });
    return issues;
  }
  if (c.values !== undefined) {
    return [{ path: ['values'], message: `is only used with operator in, not ${c.operator}; use value` }];
  }
  if (c.value === undefined) return [{ path: ['value'], message: `is required with operator ${c.operator}` }];
  return [];
}

function operatorIssues(c: z.output<typeof conditionShape>): Issue[] {
  const isBoolean = BOOLEAN_FIELDS.has(c.field);
  if (isBoolean && c.operator !== 'is') {
    return [{ path: ['operator'], message: `must be is for field ${c.field} (true or false)` }];
  }
  if (!isBoolean && c.operator === 'is') {
    return [{ path: ['operator'], message: 'is only for the fields hasAttachment and urgent' }];
  }
  if (c.operator === 'domainIs' && !ADDRESS_FIELDS.has(c.field)) {
    return [{ path: ['operator'], message: 'domainIs applies to from.address, from.domain, to and cc only' }];
  }
  return [];
}

function valueIssues(c: z.output<typeof conditionShape>): Issue[] {
  const value = c.value;
  if (value === undefined) return [];
  if (c.operator === 'is' && value !== 'true' && value !== 'false') {
    return [{ path: ['value'], message: 'must be "true" or "false"' }];
  }
  if (c.operator === 'domainIs' && !DOMAIN.test(value)) {
    return [{ path: ['value'], message: 'must be a domain like example.com' }];
  }
  if (c.operator === 'regex') {
    const problem = regexProblem(value);
    if (problem) return [{ path: ['value'], message: `the regex on ${c.field} ${problem}` }];
  }
  return [];
}

function fieldIssues(c: z.output<typeof conditionShape>): Issue[] {
  if (c.field === 'header' && c.header === undefined) {
    return [{ path: ['header'], message: 'is required with field header (the header name, like List-Id)' }];
  }
  if (c.field !== 'header' && c.header !== undefined) {
    return [{ path: ['header'], message: 'is only used with field header' }];
  }
  if (c.field === 'link.provider' && (c.operator === 'equals' || c.operator === 'in')) {
    const given = c.values ?? (c.value === undefined ? [] : [c.value]);
    const unknown = given.filter((p) => !(LINK_PROVIDERS as readonly string[]).includes(p.toLowerCase()));
    if (unknown.length > 0) {
      return [
        {
          path: [c.operator === 'in' ? 'values' : 'value'],
          message: `names unknown providers (${unknown.join(', ')}); known: ${LINK_PROVIDERS.join(', ')}`,
        },
      ];
    }
  }
  return [];
}

/** One condition, with its combinations checked. */
export const conditionSchema = conditionShape.superRefine((c, ctx) => {
  for (const issue of [...fieldIssues(c), ...operatorIssues(c), ...operandIssues(c), ...valueIssues(c)]) {
    ctx.addIssue({ code: 'custom', ...issue });
  }
});

function isGroupLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && ('all' in value || 'any' in value);
}

/**
 * A group member: a group when it has `all` or `any`, else a condition. Dispatching on the
 * keys (rather than a zod union) keeps each error at its own path, such as
 * `when.all[1].operator`, instead of one "invalid input" for the whole member.
 */
const memberSchema: z.ZodType<Condition | Group, unknown> = z
  .unknown()
  .transform((value, ctx) => {
    const result = (isGroupLike(value) ? groupSchema : conditionSchema).safeParse(value);
    if (result.success) return result.data as Condition | Group;
    // Re-raised as they are (code, keys, path relative to this member), so that unknown keys
    // stay named one by one and paths continue from here.
    for (const issue of result.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  })
  .describe(
    'A condition {field, operator, value | values, header?, caseSensitive?, negate?} or a nested group {all} | {any}.',
  );

const members = z.array(z.lazy(() => memberSchema)).max(50);

/** A group: `{all: [...]}` or `{any: [...]}`. */
export const groupSchema: z.ZodType<Group, unknown> = z
  .strictObject({ all: members.optional(), any: members.optional() })
  .superRefine((g, ctx) => {
    if ((g.all === undefined) === (g.any === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'must have exactly one of all or any (a list of conditions)' });
    }
  })
  .transform((g) => (g.all !== undefined ? { all: g.all } : { any: g.any ?? [] }));

/** Members of a group, whichever kind it is. */
export function groupMembers(group: Group): Array<Condition | Group> {
  return 'all' in group ? group.all : group.any;
}

/** True when a group member is a group. */
export function isGroup(member: Condition | Group): member is Group {
  return 'all' in member || 'any' in member;
}

/** The path of the first group nested deeper than MAX_GROUP_DEPTH, or null. */
function tooDeep(group: Group, depth: number, path: PropertyKey[]): PropertyKey[] | null {
  if (depth > MAX_GROUP_DEPTH) return path;
  const key = 'all' in group ? 'all' : 'any';
  const list = groupMembers(group);
  for (let i = 0; i < list.length; i++) {
    const member = list[i]!;
    if (!isGroup(member)) continue;
    const found = tooDeep(member, depth + 1, [...path, key, i]);
    if (found) return found;
  }
  return null;
}

/** The `when` of a rule: a group nested at most MAX_GROUP_DEPTH levels. */
export const whenSchema = groupSchema.superRefine((group, ctx) => {
  const path = tooDeep(group, 1, []);
  if (path) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: `nests groups more than ${MAX_GROUP_DEPTH} levels deep; flatten it`,
    });
  }
});
