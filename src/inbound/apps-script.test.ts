import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  appsScriptIdentity,
  appsScriptPayloadSchema,
  emailFromAppsScript,
  parseAppsScriptSender,
} from './apps-script.js';

const payload = {
  subject: 'Média Solution - Missions Recadrage - Lot 42',
  sender: 'Jane Doe <Jane.Doe@Example.com>',
  date: '2024-03-01T09:15:00+01:00',
  body: '<p>Bonjour,</p><p>Les fichiers : <a href="https://www.dropbox.com/s/abc/file.zip?dl=0&amp;rlkey=x">ici</a></p><p>Le 29 févr. 2024, Bob a écrit :</p><blockquote>ancien message</blockquote>',
  snippet: 'Bonjour, Les fichiers : ici',
};

describe('appsScriptPayloadSchema', () => {
  it('accepts the pushed JSON, defaults the subject and drops unknown fields', () => {
    const parsed = appsScriptPayloadSchema.parse({ sender: 'a@b.test', body: '<p>x</p>', labelId: 'L1' });
    expect(parsed).toEqual({ subject: '', sender: 'a@b.test', body: '<p>x</p>' });
  });

  it('refuses a missing or blank sender or body, and a non-object body', () => {
    expect(appsScriptPayloadSchema.safeParse({ body: '<p>x</p>' }).success).toBe(false);
    expect(appsScriptPayloadSchema.safeParse({ sender: 'a@b.test' }).success).toBe(false);
    expect(appsScriptPayloadSchema.safeParse({ sender: '  ', body: '<p>x</p>' }).success).toBe(false);
    expect(appsScriptPayloadSchema.safeParse({ sender: 'a@b.test', body: '' }).success).toBe(false);
    expect(appsScriptPayloadSchema.safeParse(['a@b.test']).success).toBe(false);
    expect(appsScriptPayloadSchema.safeParse({ sender: 'a@b.test', body: 'x', subject: 3 }).success).toBe(
      false,
    );
  });
});

describe('the pushed sender', () => {
  const issues = (sender: string) =>
    appsScriptPayloadSchema.safeParse({ sender, body: '<p>x</p>' }).error?.issues.map((issue) => ({
      path: issue.path,
      message: issue.message,
    }));

  it('must be an address, and the refusal names the field and the expected form', () => {
    for (const sender of [
      'nobody',
      'Jane <nobody>',
      'a@',
      '@b.test',
      'a b@c.test',
      'Jane <a@b.test',
      'ma\u0000rie@b.test',
    ]) {
      expect(issues(sender), sender).toEqual([
        {
          path: ['sender'],
          message:
            'must be an address, as `Name <addr@example.com>`, `"Name" <addr@example.com>` or `addr@example.com`',
        },
      ]);
    }
  });

  it('says only "must not be empty" when blank', () => {
    expect(issues('  ')).toEqual([{ path: ['sender'], message: 'must not be empty' }]);
  });
});

describe('parseAppsScriptSender', () => {
  it('reads Name <addr>, "Name" <addr> and a bare address, lower-casing the address', () => {
    expect(parseAppsScriptSender('Jane Doe <Jane@Example.com>')).toEqual({
      address: 'jane@example.com',
      name: 'Jane Doe',
    });
    expect(parseAppsScriptSender('"Doe, Jane" <jane@example.com>')).toEqual({
      address: 'jane@example.com',
      name: 'Doe, Jane',
    });
    expect(parseAppsScriptSender(' JANE@example.com ')).toEqual({ address: 'jane@example.com', name: '' });
  });

  it('gives null when there is no address', () => {
    expect(parseAppsScriptSender('Jane Doe')).toBeNull();
    expect(parseAppsScriptSender('Jane <nobody>')).toBeNull();
  });
});

describe('emailFromAppsScript', () => {
  const email = emailFromAppsScript(appsScriptPayloadSchema.parse(payload));

  it('maps the sender, subject and date', () => {
    expect(email.from).toEqual({ address: 'jane.doe@example.com', name: 'Jane Doe' });
    expect(email.sender).toBe(payload.sender);
    expect(email.subject).toBe(payload.subject);
    expect(email.date).toBe('2024-03-01T08:15:00.000Z');
    expect(email.messageId).toBeNull();
    expect(email.headers).toEqual({
      from: [payload.sender],
      subject: [payload.subject],
      date: [payload.date],
    });
  });

  it('keeps the HTML, renders it as text, and extracts links and the reply', () => {
    expect(email.html).toBe(payload.body);
    expect(email.text).toContain('Les fichiers : ici [https://www.dropbox.com/s/abc/file.zip?dl=0&rlkey=x]');
    expect(email.links).toEqual(['https://www.dropbox.com/s/abc/file.zip?dl=0&rlkey=x']);
    expect(email.replyText).toContain('Bonjour,');
    expect(email.replyText).not.toContain('ancien message');
    expect(email.truncated).toEqual([]);
  });

  it('measures the pushed fields', () => {
    expect(email.size).toBe(Buffer.byteLength(JSON.stringify(payload)));
  });

  it('caps the HTML before rendering it and says so', () => {
    const long = emailFromAppsScript(
      appsScriptPayloadSchema.parse({ ...payload, body: `<p>${'é'.repeat(5000)}</p>` }),
      { maxHtmlBytes: 1001, maxTextBytes: 100 },
    );
    expect(Buffer.byteLength(long.html ?? '')).toBeLessThanOrEqual(1001);
    expect(long.html).not.toContain('\uFFFD');
    expect(Buffer.byteLength(long.text)).toBeLessThanOrEqual(100);
    expect(long.truncated).toEqual(['text', 'html']);
  });

  it('gives a null date when the pushed date is missing or unreadable', () => {
    const { date: _date, ...undated } = payload;
    expect(emailFromAppsScript(appsScriptPayloadSchema.parse(undated)).date).toBeNull();
    expect(emailFromAppsScript(appsScriptPayloadSchema.parse({ ...payload, date: 'soon' })).date).toBeNull();
  });
});

describe('NUL and unpaired surrogates in a push', () => {
  it('are replaced by U+FFFD and the fields listed in replaced, not refused', () => {
    const email = emailFromAppsScript(
      appsScriptPayloadSchema.parse({
        ...payload,
        subject: 'Lot\u0000 42 \ud800',
        sender: 'Jane\u0000 Doe <jane.doe@example.com>',
        body: '<p>Bonjour\u0000</p>',
      }),
    );
    expect(email.subject).toBe('Lot\ufffd 42 \ufffd');
    expect(email.from).toEqual({ address: 'jane.doe@example.com', name: 'Jane\ufffd Doe' });
    expect(email.html).toBe('<p>Bonjour\ufffd</p>');
    expect(email.text).toBe('Bonjour\ufffd');
    expect(email.replaced).toEqual(
      expect.arrayContaining([
        'subject',
        'headers.subject',
        'sender',
        'headers.from',
        'from.name',
        'html',
        'text',
      ]),
    );
    expect(JSON.stringify(email)).not.toMatch(/\\u0000|\\ud800/);
  });

  it('leave a clean push with an empty replaced', () => {
    expect(emailFromAppsScript(appsScriptPayloadSchema.parse(payload)).replaced).toEqual([]);
  });
});

describe('appsScriptIdentity', () => {
  it('is the SHA-256 of subject, sender address and date', () => {
    const expected = createHash('sha256')
      .update(`${payload.subject}\njane.doe@example.com\n${payload.date}`)
      .digest('hex');
    expect(appsScriptIdentity(appsScriptPayloadSchema.parse(payload))).toBe(expected);
  });

  it('does not depend on the display name or the body, and changes with the date', () => {
    const base = appsScriptIdentity(appsScriptPayloadSchema.parse(payload));
    const renamed = { ...payload, sender: '"J. Doe" <jane.doe@example.com>', body: '<p>other</p>' };
    expect(appsScriptIdentity(appsScriptPayloadSchema.parse(renamed))).toBe(base);
    expect(appsScriptIdentity(appsScriptPayloadSchema.parse({ ...payload, date: '2024-03-02' }))).not.toBe(
      base,
    );
  });
});
