import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.js';
import { type FieldError, parseOrThrow } from '../core/validation.js';
import { defaultRuleSettings, ruleInputSchema, rulePatchSchema, ruleSettingsSchema } from './model.js';

/** The field errors of parsing `value`, or [] when it is valid. */
function errors(schema: Parameters<typeof parseOrThrow>[0], value: unknown): FieldError[] {
  try {
    parseOrThrow(schema, value, 'body');
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).details as FieldError[];
  }
}

function fields(schema: Parameters<typeof parseOrThrow>[0], value: unknown): string[] {
  return errors(schema, value).map((e) => e.field);
}

const webhook = { type: 'webhook', endpoints: ['ep_1'] };

describe('ruleInputSchema: defaults', () => {
  it('fills every default', () => {
    const rule = ruleInputSchema.parse({ name: ' Factures ', actions: [webhook] });
    expect(rule).toEqual({
      name: 'Factures',
      enabled: true,
      when: { all: [] },
      actions: [
        { type: 'webhook', endpoints: ['ep_1'], eventType: 'inbound.email', payload: { format: 'compat' } },
      ],
      stopProcessing: false,
      priority: 'normal',
    });
  });

  it('fills condition and forward defaults', () => {
    const rule = ruleInputSchema.parse({
      name: 'r',
      preset: 'recadrage',
      when: { any: [{ field: 'subject', operator: 'contains', value: 'x' }] },
      actions: [{ type: 'forward', to: [' Boss@Example.com '] }],
    });
    expect(rule.when).toEqual({
      any: [{ field: 'subject', operator: 'contains', value: 'x', caseSensitive: false, negate: false }],
    });
    expect(rule.actions[0]).toEqual({ type: 'forward', to: ['boss@example.com'], subjectPrefix: 'Fwd: ' });
    expect(rule.preset).toBe('recadrage');
  });

  it('accepts an action-less rule that stops processing', () => {
    expect(ruleInputSchema.safeParse({ name: 'drop', stopProcessing: true }).success).toBe(true);
  });
});

describe('ruleInputSchema: errors name the field', () => {
  it('names an empty endpoint list', () => {
    expect(fields(ruleInputSchema, { name: 'r', actions: [{ type: 'webhook', endpoints: [] }] })).toEqual([
      'actions[0].endpoints',
    ]);
  });

  it('names a bad operator inside when', () => {
    const value = {
      name: 'r',
      actions: [webhook],
      when: {
        all: [
          { field: 'subject', operator: 'contains', value: 'a' },
          { field: 'subject', operator: 'like' },
        ],
      },
    };
    expect(fields(ruleInputSchema, value)).toContain('when.all[1].operator');
  });

  it('names fields deep in nested groups', () => {
    const value = {
      name: 'r',
      actions: [webhook],
      when: { all: [{ any: [{ all: [{ field: 'nope', operator: 'equals', value: 'x' }] }] }] },
    };
    expect(fields(ruleInputSchema, value)).toEqual(['when.all[0].any[0].all[0].field']);
  });

  it('refuses groups nested more than 4 levels deep', () => {
    const leaf = { field: 'subject', operator: 'contains', value: 'a' };
    const four = { all: [{ any: [{ all: [{ any: [leaf] }] }] }] };
    expect(fields(ruleInputSchema, { name: 'r', actions: [webhook], when: four })).toEqual([]);
    const five = { all: [{ any: [{ all: [{ any: [{ all: [leaf] }] }] }] }] };
    const [error] = errors(ruleInputSchema, { name: 'r', actions: [webhook], when: five });
    expect(error).toMatchObject({
      field: 'when.all[0].any[0].all[0].any[0]',
      message: expect.stringMatching(/4 levels/),
    });
  });

  it('refuses a group with both or neither of all and any', () => {
    expect(fields(ruleInputSchema, { name: 'r', actions: [webhook], when: { all: [], any: [] } })).toEqual([
      'when',
    ]);
    expect(fields(ruleInputSchema, { name: 'r', actions: [webhook], when: {} })).toEqual(['when']);
  });

  it.each([
    [{ field: 'subject', operator: 'in', value: 'a' }, ['when.all[0].values', 'when.all[0].value']],
    [{ field: 'subject', operator: 'contains' }, ['when.all[0].value']],
    [{ field: 'subject', operator: 'equals', value: 'a', values: ['a'] }, ['when.all[0].values']],
    [{ field: 'header', operator: 'contains', value: 'a' }, ['when.all[0].header']],
    [{ field: 'subject', header: 'X-A', operator: 'contains', value: 'a' }, ['when.all[0].header']],
    [{ field: 'hasAttachment', operator: 'equals', value: 'true' }, ['when.all[0].operator']],
    [{ field: 'urgent', operator: 'is', value: 'yes' }, ['when.all[0].value']],
    [{ field: 'subject', operator: 'is', value: 'true' }, ['when.all[0].operator']],
    [{ field: 'subject', operator: 'domainIs', value: 'acme.fr' }, ['when.all[0].operator']],
    [{ field: 'to', operator: 'domainIs', value: 'not a domain' }, ['when.all[0].value']],
    [{ field: 'link.provider', operator: 'in', values: ['dropbox', 'mega'] }, ['when.all[0].values']],
    [{ field: 'subject', operator: 'contains', value: 'a', colour: 'red' }, ['when.all[0].colour']],
  ])('refuses %j', (condition, expected) => {
    expect(fields(ruleInputSchema, { name: 'r', actions: [webhook], when: { all: [condition] } })).toEqual(
      expected,
    );
  });

  it('says what RE2 does not support in a regex, naming the field', () => {
    const [error] = errors(ruleInputSchema, {
      name: 'r',
      actions: [webhook],
      when: { all: [{ field: 'subject', operator: 'regex', value: '(?<=Lot )\\d+' }] },
    });
    expect(error?.field).toBe('when.all[0].value');
    expect(error?.message).toMatch(/the regex on subject is not a valid RE2 regular expression/);
    expect(error?.message).toMatch(/does not support lookaround/);
  });

  it('refuses a rule that neither acts nor stops', () => {
    expect(fields(ruleInputSchema, { name: 'r' })).toEqual(['actions']);
  });

  it.each([
    [{ type: 'forward', to: ['not-an-address'] }, 'actions[0].to[0]'],
    [{ type: 'forward', to: ['a@b.fr'], subjectPrefix: 'x\ny' }, 'actions[0].subjectPrefix'],
    [{ type: 'tag', tags: [' '] }, 'actions[0].tags[0]'],
    [{ type: 'webhook', endpoints: ['a', 'a'] }, 'actions[0].endpoints'],
    [{ type: 'webhook', endpoints: Array.from({ length: 21 }, (_, i) => `e${i}`) }, 'actions[0].endpoints'],
    [{ type: 'webhook', endpoints: ['a'], eventType: 'bad type!' }, 'actions[0].eventType'],
    [
      { type: 'webhook', endpoints: ['a'], payload: { format: 'template', template: '{% if %}' } },
      'actions[0].payload.template',
    ],
    [{ type: 'teleport' }, 'actions[0].type'],
  ])('refuses the action %j at %s', (action, field) => {
    expect(fields(ruleInputSchema, { name: 'r', actions: [action] })).toContain(field);
  });

  it('accepts a template payload that parses', () => {
    const template = '{"subject": {{ email.subject | json }}}';
    const rule = ruleInputSchema.parse({
      name: 'r',
      actions: [{ type: 'webhook', endpoints: ['a'], payload: { format: 'template', template } }],
    });
    expect(rule.actions[0]).toMatchObject({ payload: { format: 'template', template } });
  });
});

describe('rulePatchSchema', () => {
  it('takes any subset without filling defaults', () => {
    expect(rulePatchSchema.parse({ enabled: false })).toEqual({ enabled: false });
    expect(rulePatchSchema.parse({ preset: null })).toEqual({ preset: null });
  });

  it('still names bad fields', () => {
    expect(fields(rulePatchSchema, { priority: 'urgent', when: { all: [{ field: 'to' }] } }).sort()).toEqual([
      'priority',
      'when.all[0].operator',
    ]);
  });
});

describe('ruleSettingsSchema', () => {
  it('has the defaults of the brief', () => {
    expect(defaultRuleSettings()).toEqual({
      defaultActions: [],
      defaultWhen: 'unmatched',
      skipRepliesAndForwards: true,
      dedupeSubjectGroupPerMonth: false,
      senderAllowlist: [],
      timeZone: 'Europe/Paris',
    });
  });

  it('lower-cases allowlist entries and refuses malformed ones', () => {
    expect(
      ruleSettingsSchema.parse({ senderAllowlist: ['Jane@Example.com', '@ACME.fr'] }).senderAllowlist,
    ).toEqual(['jane@example.com', '@acme.fr']);
    expect(
      fields(ruleSettingsSchema, { senderAllowlist: ['ok@a.fr', 'nope'], timeZone: 'Mars/Olympus' }),
    ).toEqual(['senderAllowlist[1]', 'timeZone']);
  });
});
