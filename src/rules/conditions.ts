import type { InboundEmail } from '../core/inbound-email.js';
import { type Condition, type Group, groupMembers, isGroup } from './condition-model.js';
import type { DeliveryLink } from './extractors.js';
import { regexTest } from './regex.js';

/**
 * Evaluation of conditions and groups. Text comparisons ignore case unless `caseSensitive`
 * (both sides lower-cased), and compare accents as written: `é` and `e` differ, as in the
 * replaced system, but `é` typed in a rule equals `é` decomposed in a message (both NFC).
 * Multi-valued fields (recipients, headers, attachments, links) match when any value matches;
 * `negate` then means that none does.
 */

/** What is computed once per message and read by conditions. */
export interface Extracted {
  links: DeliveryLink[];
  /** `urgent` or `urgence` in the subject or the body. */
  urgent: boolean;
}

/** The outcome of one condition, for backtests. */
export interface ConditionTrace {
  /** Where the condition sits in the rule, e.g. `when.all[1]`. */
  path: string;
  field: string;
  operator: string;
  matched: boolean;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(at + 1);
}

/** The values a condition looks at; several for multi-valued fields, none when absent. */
function fieldValues(c: Condition, email: InboundEmail, extracted: Extracted): string[] {
  switch (c.field) {
    case 'from.address':
      return email.from ? [email.from.address] : [];
    case 'from.name':
      return email.from ? [email.from.name] : [];
    case 'from.domain':
      return email.from ? [domainOf(email.from.address)] : [];
    case 'to':
      return email.to.map((a) => a.address);
    case 'cc':
      return email.cc.map((a) => a.address);
    case 'subject':
      return [email.subject];
    case 'text':
      return [email.text];
    case 'html':
      return email.html === null ? [] : [email.html];
    case 'replyText':
      return [email.replyText];
    case 'header':
      return email.headers[(c.header ?? '').toLowerCase()] ?? [];
    case 'attachment.name':
      return email.attachments.flatMap((a) => (a.filename === null ? [] : [a.filename]));
    case 'attachment.type':
      return email.attachments.map((a) => a.contentType);
    case 'link.provider':
      return extracted.links.map((l) => l.provider);
    case 'hasAttachment':
      // Inline parts are signature logos and embedded images, not what people call attachments.
      return [String(email.attachments.some((a) => a.disposition !== 'inline'))];
    case 'urgent':
      return [String(extracted.urgent)];
  }
}

function comparable(text: string, caseSensitive: boolean): string {
  const composed = text.normalize('NFC');
  return caseSensitive ? composed : composed.toLowerCase();
}

function domainIs(value: string, domain: string): boolean {
  const actual = domainOf(value).toLowerCase();
  const wanted = domain.toLowerCase().replace(/^@/, '');
  return actual === wanted || actual.endsWith(`.${wanted}`);
}

function matchesOne(c: Condition, actual: string): boolean {
  if (c.operator === 'regex') return regexTest(c.value ?? '', c.caseSensitive, actual);
  if (c.operator === 'domainIs') return domainIs(actual, c.value ?? '');
  const text = comparable(actual, c.caseSensitive);
  if (c.operator === 'in') return (c.values ?? []).some((v) => comparable(v, c.caseSensitive) === text);
  const value = comparable(c.value ?? '', c.caseSensitive);
  switch (c.operator) {
    case 'contains':
      return text.includes(value);
    case 'equals':
    case 'is':
      return text === value;
    case 'startsWith':
      return text.startsWith(value);
    case 'endsWith':
      return text.endsWith(value);
  }
}

/** Whether one condition holds for the message. */
export function evaluateCondition(c: Condition, email: InboundEmail, extracted: Extracted): boolean {
  const any = fieldValues(c, email, extracted).some((actual) => matchesOne(c, actual));
  return c.negate ? !any : any;
}

/** Whether a group holds for the message; an empty `all` holds, an empty `any` does not. */
export function evaluateGroup(group: Group, email: InboundEmail, extracted: Extracted): boolean {
  const test = (member: Condition | Group): boolean =>
    isGroup(member) ? evaluateGroup(member, email, extracted) : evaluateCondition(member, email, extracted);
  return 'all' in group ? group.all.every(test) : group.any.some(test);
}

/** A group's outcome with every condition's outcome and, when it fails, a sentence saying why. */
export interface GroupTrace {
  matched: boolean;
  conditions: ConditionTrace[];
  /** The first failing condition of an `all`, or that no member of an `any` held; null when matched. */
  why: string | null;
}

function describe(c: Condition): string {
  const field = c.field === 'header' ? `header ${c.header}` : c.field;
  const operand = c.operator === 'in' ? JSON.stringify(c.values ?? []) : JSON.stringify(c.value ?? '');
  return `${c.negate ? 'not ' : ''}${field} ${c.operator} ${operand}`;
}

/** Evaluates every member (no short cut) so a backtest shows each condition's outcome. */
export function traceGroup(
  group: Group,
  email: InboundEmail,
  extracted: Extracted,
  path = 'when',
): GroupTrace {
  const key = 'all' in group ? 'all' : 'any';
  const conditions: ConditionTrace[] = [];
  const failures: string[] = [];
  let held = 0;
  groupMembers(group).forEach((member, index) => {
    const at = `${path}.${key}[${index}]`;
    if (isGroup(member)) {
      const inner = traceGroup(member, email, extracted, at);
      conditions.push(...inner.conditions);
      if (inner.matched) held++;
      else failures.push(inner.why ?? at);
      return;
    }
    const matched = evaluateCondition(member, email, extracted);
    conditions.push({ path: at, field: member.field, operator: member.operator, matched });
    if (matched) held++;
    else failures.push(`${at} (${describe(member)}) did not hold`);
  });
  const total = groupMembers(group).length;
  const matched = key === 'all' ? held === total : held > 0;
  if (matched) return { matched, conditions, why: null };
  const why = key === 'all' ? (failures[0] ?? path) : `no condition of ${path}.any held`;
  return { matched, conditions, why };
}
