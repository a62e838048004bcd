import { describe, expect, it } from 'vitest';
import { parseBootConfig } from './index.js';
import { parseTransportList, parseTransportUrl, redactTransportList } from './transport-url.js';

const problemOf = (raw: string): string => {
  try {
    parseTransportList(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${raw} to be refused`);
};

describe('transport URLs', () => {
  it('parses each provider form', () => {
    expect(parseTransportUrl('postmark://pm-token@api.postmarkapp.com?message_stream=outbound')).toEqual({
      kind: 'postmark',
      name: 'postmark',
      apiBase: 'https://api.postmarkapp.com',
      serverToken: 'pm-token',
      messageStream: 'outbound',
    });
    expect(parseTransportUrl('sendgrid://SG.abc%2Bdef@api.sendgrid.com')).toMatchObject({
      kind: 'sendgrid',
      apiKey: 'SG.abc+def',
      apiBase: 'https://api.sendgrid.com',
    });
    expect(parseTransportUrl('mailgun://key-1@api.eu.mailgun.net/mg.example.com')).toMatchObject({
      kind: 'mailgun',
      apiKey: 'key-1',
      domain: 'mg.example.com',
      apiBase: 'https://api.eu.mailgun.net',
    });
    expect(parseTransportUrl('ses://AKID:se%2Fcret@email.eu-west-1.amazonaws.com')).toMatchObject({
      kind: 'ses',
      accessKeyId: 'AKID',
      secretAccessKey: 'se/cret',
      region: 'eu-west-1',
      apiBase: 'https://email.eu-west-1.amazonaws.com',
    });
    expect(
      parseTransportUrl('ses://AKID:s@proxy.internal?region=us-west-2&api_base=http://127.0.0.1:9000/ses/'),
    ).toMatchObject({ region: 'us-west-2', apiBase: 'http://127.0.0.1:9000/ses' });
    expect(parseTransportUrl('smtp://u:p@relay.example.com:2525')).toMatchObject({
      kind: 'smtp',
      name: 'smtp',
      server: { host: 'relay.example.com', port: 2525, user: 'u', password: 'p' },
    });
  });

  it('names a second transport of a kind kind-2, or as ?name= says', () => {
    const list = parseTransportList(
      'postmark://a@api.postmarkapp.com, postmark://b@api.postmarkapp.com,sendgrid://k@api.sendgrid.com?name=backup',
    );
    expect(list.map((t) => t.name)).toEqual(['postmark', 'postmark-2', 'backup']);
  });

  it.each([
    ['nope', /item 1 is not a URL/],
    ['http://x@api.example.com', /item 1 has the unknown scheme "http"/],
    [
      'postmark://api.postmarkapp.com',
      /item 1 \(postmark:\/\/\): the server token goes in the user part.*expected postmark:\/\/SERVER_TOKEN@/,
    ],
    ['sendgrid://k@api.sendgrid.com?apibase=x', /unknown parameter "apibase"/],
    ['mailgun://secret-key@api.mailgun.net', /sending domain is missing/],
    ['ses://AKID@email.us-east-1.amazonaws.com', /access key id and the secret access key are both needed/],
    ['ses://AKID:secret-value@ses.example.com', /the region is missing/],
    ['ses://AKID:secret-value@email.us-east-1.amazonaws.com?api_base=ftp://x', /api_base must be an http/],
    ['smtp://u:pw@relay.example.com,,postmark://t@api.postmarkapp.com', /item 2 is empty/],
    ['smtp://relay.example.com,smtp://u:secret-value@:25', /item 2 \(smtp:\/\/\)/],
    [
      'sendgrid://k@api.sendgrid.com?name=a,postmark://t@api.postmarkapp.com?name=a',
      /item 2: the name "a" is taken/,
    ],
  ])('refuses %s, naming the item and the form', (raw, expected) => {
    const problem = problemOf(raw);
    expect(problem).toMatch(expected);
    for (const secret of ['secret-key', 'secret-value', 'pw']) expect(problem).not.toContain(secret);
  });

  it('redacts every key of the list', () => {
    expect(
      redactTransportList('postmark://tok@api.postmarkapp.com,ses://AKID:sec@email.us-east-1.amazonaws.com'),
    ).toBe('postmark://***@api.postmarkapp.com,ses://***@email.us-east-1.amazonaws.com');
  });
});

describe('FACTEUR_TRANSPORTS in the boot config', () => {
  it('FACTEUR_SMTP_URL alone is a one-element list named smtp; nothing set is the catcher', () => {
    const smtp = parseBootConfig({ FACTEUR_SMTP_URL: 'smtp://relay.example.com:25' });
    expect(smtp.ok && smtp.config.transports).toEqual([
      expect.objectContaining({ kind: 'smtp', name: 'smtp', server: expect.objectContaining({ port: 25 }) }),
    ]);
    const none = parseBootConfig({});
    expect(none.ok && none.config.transports).toEqual([]);
  });

  it('both set is a problem naming both variables', () => {
    const result = parseBootConfig({
      FACTEUR_SMTP_URL: 'smtp://relay.example.com:25',
      FACTEUR_TRANSPORTS: 'postmark://tok-secret@api.postmarkapp.com',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      { variable: 'FACTEUR_TRANSPORTS', message: expect.stringMatching(/FACTEUR_SMTP_URL is set too/) },
    ]);
    expect(JSON.stringify(result.problems)).not.toContain('tok-secret');
  });

  it('a bad item is reported with its position and without any key', () => {
    const result = parseBootConfig({
      FACTEUR_TRANSPORTS: 'sendgrid://SG.secret@api.sendgrid.com,mailgun://key-secret@api.mailgun.net',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const [problem] = result.problems;
    expect(problem?.variable).toBe('FACTEUR_TRANSPORTS');
    expect(problem?.message).toMatch(/item 2 \(mailgun:\/\/\)/);
    expect(problem?.message).not.toMatch(/SG\.secret|key-secret/);
  });
});
