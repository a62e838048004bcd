import { describe, expect, it } from 'vitest';
import { makeEmail } from '../../test/support/email-fixture.js';
import { AppError } from '../core/errors.js';
import { renderTemplate, templateProblem } from './template.js';

const email = makeEmail({ subject: 'Lot "42" \\ été', text: 'Ligne 1\nLigne 2' });
const context = {
  email,
  links: [{ provider: 'dropbox', raw_url: 'https://www.dropbox.com/s/a/b.zip', direct_url: 'x' }],
  detector: 'recadrage',
  delivery_time: '16h00',
  rule: { id: 'r1', name: 'Recadrage', priority: 'high' },
  received_at: '2025-06-02T08:00:00.000Z',
};

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected a failure');
}

describe('renderTemplate', () => {
  it('renders a JSON object from the context, strings escaped with | json', () => {
    const template = `{
      "title": {{ email.subject | json }},
      "body": {{ email.text | json }},
      "when": {{ delivery_time | json }},
      "rule": {{ rule.name | json }},
      "first_link": {{ links[0].raw_url | json }},
      "count": {{ links | size }},
      "links": {{ links | json }}
    }`;
    expect(renderTemplate(template, context)).toEqual({
      title: 'Lot "42" \\ été',
      body: 'Ligne 1\nLigne 2',
      when: '16h00',
      rule: 'Recadrage',
      first_link: 'https://www.dropbox.com/s/a/b.zip',
      count: 1,
      links: context.links,
    });
  });

  it('fails with RULE_TEMPLATE_FAILED when the output is not JSON, without quoting it', () => {
    const error = failure(() => renderTemplate('{"subject": "{{ email.subject }}"}', context));
    expect(error.code).toBe('RULE_TEMPLATE_FAILED');
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/not valid JSON/);
    expect(error.message).not.toContain('Lot');
  });

  it('fails when the output is JSON but not an object', () => {
    expect(failure(() => renderTemplate('[1, 2]', context)).message).toMatch(/an array, not a JSON object/);
    expect(failure(() => renderTemplate('null', context)).message).toMatch(/null, not a JSON object/);
    expect(failure(() => renderTemplate('"x"', context)).message).toMatch(/string, not a JSON object/);
  });

  it('cannot read files of the server', () => {
    for (const tag of [
      "{% include '/etc/passwd' %}",
      "{% render 'package.json' %}",
      "{% layout '/etc/hosts' %}",
    ]) {
      const error = failure(() => renderTemplate(`{"x": "${tag}"}`, context));
      expect(error.code).toBe('RULE_TEMPLATE_FAILED');
      expect(error.message).not.toMatch(/root:/);
    }
  });

  it('reads own properties only: no prototype or constructor access', () => {
    const out = renderTemplate(
      '{"a": "{{ email.constructor }}", "b": "{{ email.__proto__ }}", "c": "{{ email.toString }}", "d": "{{ email.hasOwnProperty }}", "e": "{{ email.subject.size }}"}',
      context,
    );
    expect(out).toEqual({ a: '', b: '', c: '', d: '', e: String(email.subject.length) });
  });

  it('refuses unknown filters', () => {
    expect(failure(() => renderTemplate('{"a": {{ email.subject | exec }}}', context)).message).toMatch(
      /undefined filter: exec/,
    );
  });

  it('stops a loop that would allocate too much (memory limit)', () => {
    const error = failure(() =>
      renderTemplate('{"a": "{% for i in (1..100000000) %}x{% endfor %}"}', context),
    );
    expect(error.message).toMatch(/memory alloc limit exceeded/);
  });

  it('stops a loop that would run too long (render time limit)', () => {
    const template = '{"a": "{% for i in (1..5000) %}{% for j in (1..5000) %}{% endfor %}{% endfor %}"}';
    expect(failure(() => renderTemplate(template, context)).message).toMatch(/render limit exceeded/);
  });
});

describe('templateProblem', () => {
  it('is null for a template that parses', () => {
    expect(templateProblem('{"s": {{ email.subject | json }}}')).toBeNull();
  });

  it('describes a parse error', () => {
    expect(templateProblem('{% if %}')).toMatch(/is not a valid Liquid template/);
    expect(templateProblem('{{ x | nosuchfilter }}')).toMatch(/undefined filter: nosuchfilter/);
  });
});
