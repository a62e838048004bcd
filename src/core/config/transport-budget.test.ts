import { describe, expect, it } from 'vitest';
import { parseBootConfig } from './index.js';
import { parseTransportList, parseTransportUrl, takeBudget } from './transport-url.js';

const problemOf = (raw: string): string => {
  try {
    parseTransportList(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${raw} to be refused`);
};

describe('transport budgets in URLs', () => {
  it('reads rate, hourly and daily from any transport URL, SMTP included', () => {
    expect(
      parseTransportUrl(
        'smtp://u:p%40ss@relay.example.com:2525?starttls=off&rate=50/s&hourly=10000&daily=100000',
      ),
    ).toEqual({
      kind: 'smtp',
      name: 'smtp',
      server: expect.objectContaining({
        host: 'relay.example.com',
        port: 2525,
        password: 'p@ss',
        ignoreTls: true,
      }),
      budget: { rate: { count: 50, windowMs: 1000 }, hourly: 10_000, daily: 100_000 },
    });
    expect(parseTransportUrl('postmark://tok@api.postmarkapp.com?rate=600/m&name=pm')).toMatchObject({
      kind: 'postmark',
      name: 'pm',
      serverToken: 'tok',
      budget: { rate: { count: 600, windowMs: 60_000 } },
    });
    expect(parseTransportUrl('sendgrid://k@api.sendgrid.com?daily=500')).toMatchObject({
      budget: { daily: 500 },
    });
    expect(parseTransportUrl('sendgrid://k@api.sendgrid.com')).not.toHaveProperty('budget');
  });

  it('leaves the rest of the URL as written', () => {
    expect(takeBudget('smtp://a%3Ab:c@h?starttls=off&rate=5/s&tls_verify=false#x')).toEqual({
      rest: 'smtp://a%3Ab:c@h?starttls=off&tls_verify=false#x',
      budget: { rate: { count: 5, windowMs: 1000 } },
    });
    expect(takeBudget('smtp://h?hourly=3')).toEqual({ rest: 'smtp://h', budget: { hourly: 3 } });
    expect(takeBudget('smtp://h')).toEqual({ rest: 'smtp://h', budget: undefined });
  });

  it.each([
    ['smtp://h?rate=50', /item 1 \(smtp:\/\/\): rate must be N\/s or N\/m .*e\.g\. rate=50\/s/],
    ['smtp://h?rate=50/h', /rate must be N\/s or N\/m/],
    ['smtp://h?rate=0/s', /from 1 to 1000/],
    ['smtp://h?rate=1001/s', /from 1 to 1000/],
    ['smtp://h?hourly=abc', /item 1 \(smtp:\/\/\): hourly must be a whole number of messages from 1/],
    ['smtp://h?daily=0', /daily must be a whole number/],
    ['smtp://h?rate=5/s&rate=6/s', /rate is given twice/],
    [
      'smtp://h?speed=5',
      /unknown parameter "speed"; the known ones are starttls and tls_verify, and the budget's rate, hourly, daily/,
    ],
    [
      'postmark://SECRET@api.postmarkapp.com?burst=2',
      /known: api_base, name, message_stream, rate, hourly, daily/,
    ],
    [
      'postmark://SECRET@api.postmarkapp.com,sendgrid://SECRET@api.sendgrid.com?hourly=-1',
      /item 2 \(sendgrid:\/\/\): hourly/,
    ],
  ])('refuses %s', (raw, message) => {
    const problem = problemOf(raw);
    expect(problem).toMatch(message);
    expect(problem).not.toContain('SECRET');
  });

  it('takes a budget on FACTEUR_SMTP_URL too, and names the variable when it is wrong', () => {
    const parsed = parseBootConfig({ FACTEUR_SMTP_URL: 'smtp://relay.example.com?rate=10/s&hourly=500' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(parsed.config.transports).toEqual([
      expect.objectContaining({
        kind: 'smtp',
        name: 'smtp',
        server: expect.objectContaining({ host: 'relay.example.com' }),
        budget: { rate: { count: 10, windowMs: 1000 }, hourly: 500 },
      }),
    ]);
    expect(parsed.config.transports[0]).not.toHaveProperty('server.budget');
    const bad = parseBootConfig({ FACTEUR_SMTP_URL: 'smtp://u:hunter2@relay.example.com?rate=fast' });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems).toEqual([
      { variable: 'FACTEUR_SMTP_URL', message: expect.stringMatching(/^rate must be N\/s or N\/m/) },
    ]);
    expect(JSON.stringify(bad.problems)).not.toContain('hunter2');
  });
});
