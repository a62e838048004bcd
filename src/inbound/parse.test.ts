import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type DifficultMessage,
  difficultMessages,
  LARGE_ATTACHMENT_BYTES,
  largeAttachment,
} from '../../test/support/difficult-mail.js';
import { makeEmail } from '../../test/support/email-fixture.js';
import { AppError } from '../core/errors.js';
import type { InboundEmail } from '../core/inbound-email.js';
import { withTextRule } from './email.js';
import { capUtf8, DEFAULT_PARSE_LIMITS, parseEmail, parseTimeoutMs } from './parse.js';

const corpus = difficultMessages();
const byName = new Map(corpus.map((message) => [message.name, message]));

/** Parses the corpus message `name` (each test parses its own, so tests stay independent). */
function parseCorpus(name: string, limits = {}): Promise<InboundEmail> {
  const message = byName.get(name) as DifficultMessage;
  expect(message, `no corpus message named ${name}`).toBeDefined();
  return parseEmail(message.raw, limits);
}

describe('the difficult-mail corpus', () => {
  it('has distinct subjects, at least 8 charsets and every kind of message asked for', () => {
    const subjects = corpus.map((message) => message.expect.subject);
    expect(new Set(subjects).size).toBe(corpus.length);
    expect(corpus.filter((message) => message.name.startsWith('charset-')).length).toBeGreaterThanOrEqual(8);
    for (const name of ['nested-multipart', 'no-message-id', 'html-only', 'attachment-20mb', 'bare-lf'])
      expect(byName.has(name), name).toBe(true);
  });

  it.each(corpus.map((message) => [message.name, message] as const))(
    'parses %s as expected',
    async (_, message) => {
      const email = await parseEmail(message.raw);
      const { expect: expected } = message;
      if (expected.subject !== undefined) expect(email.subject).toBe(expected.subject);
      if (expected.fromAddress !== undefined) expect(email.from?.address).toBe(expected.fromAddress);
      if (expected.messageId !== undefined) expect(email.messageId).toBe(expected.messageId);
      if (expected.textIncludes !== undefined) expect(email.text).toContain(expected.textIncludes);
      if (expected.attachments !== undefined) expect(email.attachments).toHaveLength(expected.attachments);
      if (expected.hasHtml !== undefined) expect(email.html !== null).toBe(expected.hasHtml);
      expect(email.size).toBe(message.raw.length);
      expect(email.text).not.toContain('\uFFFD');
    },
  );
});

describe('parseEmail', () => {
  it('keeps every value of a repeated header, decoded, in order', async () => {
    const email = await parseCorpus('address-headers');
    expect(email.headers['received']).toEqual([
      'from relay2.example.net by mx.difficult.facteur.test; Tue, 02 Jan 2024 10:30:02 +0100',
      'from laptop by relay2.example.net; Tue, 02 Jan 2024 10:30:01 +0100',
    ]);
    expect(email.headers['x-custom']).toEqual(['été custom']);
    expect(email.headers['from']).toEqual(['José García <Jose.Garcia@Example.COM>']);
    expect(email.headers['to']).toEqual([
      '"Doe, Jane" <JANE@Example.com>, Team: Ann <ann@example.com>, bob@EXAMPLE.com;',
    ]);
  });

  it('keeps display names, lower-cases addresses and flattens groups', async () => {
    const email = await parseCorpus('address-headers');
    expect(email.from).toEqual({ address: 'jose.garcia@example.com', name: 'José García' });
    expect(email.sender).toBe('José García <Jose.Garcia@Example.COM>');
    expect(email.to).toEqual([
      { address: 'jane@example.com', name: 'Doe, Jane' },
      { address: 'ann@example.com', name: 'Ann' },
      { address: 'bob@example.com', name: '' },
    ]);
    expect(email.cc).toEqual([{ address: 'carol@example.com', name: 'Carol' }]);
    expect(email.replyTo).toEqual([{ address: 'replies@example.com', name: 'Replies' }]);
  });

  it('reads threading headers without angle brackets, the date as ISO, the reply and the links', async () => {
    const email = await parseCorpus('address-headers');
    expect(email.messageId).toBe('address-headers@difficult.facteur.test');
    expect(email.inReplyTo).toBe('parent@difficult.facteur.test');
    expect(email.references).toEqual(['root@difficult.facteur.test', 'parent@difficult.facteur.test']);
    expect(email.date).toBe('2024-01-02T09:30:00.000Z');
    expect(email.replyText).toBe('Thanks, see https://example.com/a?x=1&y=2.');
    expect(email.links).toEqual(['https://example.com/a?x=1&y=2']);
  });

  it('gives a null date for an unreadable Date header, not the time of parsing', async () => {
    expect((await parseCorpus('unparseable-date')).date).toBeNull();
  });

  it('skips a header line without a colon and the garbage of an address list', async () => {
    const withoutColon = await parseCorpus('header-without-colon');
    expect(Object.keys(withoutColon.headers)).not.toContain('');
    expect(withoutColon.headers['content-type']).toEqual(['text/plain; charset=utf-8']);
    const garbage = await parseCorpus('garbage-address-list');
    expect(garbage.cc).toEqual([{ address: 'bob@example.com', name: 'Bob' }]);
  });

  it('describes attachments by size and SHA-256, with their part headers', async () => {
    const nested = await parseCorpus('nested-multipart');
    expect(nested.attachments.map(({ sha256: _sha, ...meta }) => meta)).toEqual([
      {
        filename: 'logo.png',
        contentType: 'image/png',
        size: 33,
        contentId: 'logo@difficult',
        disposition: 'inline',
      },
      {
        filename: 'report.pdf',
        contentType: 'application/pdf',
        size: 33,
        contentId: null,
        disposition: 'attachment',
      },
    ]);
    expect(nested.html).toContain('cid:logo@difficult');
    expect(nested.text).toContain('Plain part of the nested message');
  });

  it('measures and hashes a 20 MB attachment', async () => {
    const email = await parseCorpus('attachment-20mb');
    const [attachment] = email.attachments;
    expect(attachment?.size).toBe(LARGE_ATTACHMENT_BYTES);
    expect(attachment?.sha256).toBe(createHash('sha256').update(largeAttachment()).digest('hex'));
    expect(attachment?.filename).toBe('archive.bin');
  });

  it('renders an HTML-only message as text without shouting its headings', async () => {
    const email = await parseCorpus('html-only');
    expect(email.text.startsWith('Bonjour')).toBe(true);
    expect(email.links).toEqual(['https://example.com/html?a=1&b=2']);
  });

  it('keeps a 1 MB single-line HTML body under the default limit', async () => {
    const email = await parseCorpus('long-single-line-html');
    expect(email.truncated).toEqual([]);
    expect(email.html?.length).toBeGreaterThan(1_000_000);
    expect(email.links).toEqual(['https://example.com/long']);
  });

  it('caps the HTML before rendering it, and the text, and says which were cut', async () => {
    const email = await parseCorpus('long-single-line-html', {
      maxHtmlBytes: 64 * 1024,
      maxTextBytes: 10_000,
    });
    expect(email.truncated).toEqual(['text', 'html']);
    expect(Buffer.byteLength(email.html ?? '')).toBeLessThanOrEqual(64 * 1024);
    expect(Buffer.byteLength(email.text)).toBeLessThanOrEqual(10_000);
    expect(email.text).toContain('Paragraph of a very long newsletter');
  });

  it('keeps the HTML part of a mixed message without the joints mailparser puts between parts', async () => {
    const raw = Buffer.from(
      [
        'Subject: mixed',
        'Content-Type: multipart/mixed; boundary="b"',
        '',
        '--b',
        'Content-Type: text/plain',
        '',
        'plain text',
        '--b',
        'Content-Type: text/html',
        '',
        '<p>html part</p>',
        '--b--',
        '',
      ].join('\r\n'),
    );
    const email = await parseEmail(raw);
    expect(email.html).toBe('<p>html part</p>');
    expect(email.text.trimEnd()).toBe('plain text');
  });

  it('parses garbage into an empty message rather than failing', async () => {
    const email = await parseEmail(Buffer.from([0, 255, 13, 10, 13, 10, 1, 2, 3]));
    expect(email.subject).toBe('');
    expect(email.from).toBeNull();
    expect(email.messageId).toBeNull();
    expect((await parseEmail(Buffer.alloc(0))).size).toBe(0);
  });

  it('fails with INBOUND_PARSE_FAILED when the parser errors', async () => {
    const oversized = Buffer.from(`X-Huge: ${'a'.repeat(1_100_000)}\r\nSubject: too big\r\n\r\nbody`);
    const failure = await parseEmail(oversized).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe('INBOUND_PARSE_FAILED');
    expect((failure as AppError).message).toMatch(/header size/i);
  });
});

describe('parseTimeoutMs', () => {
  it('allows 30 s plus 1 s per started megabyte', () => {
    expect(parseTimeoutMs(0)).toBe(30_000);
    expect(parseTimeoutMs(1)).toBe(31_000);
    expect(parseTimeoutMs(5 * 1024 * 1024)).toBe(35_000);
  });
});

describe('capUtf8', () => {
  it('cuts on a character boundary and reports it', () => {
    expect(capUtf8('aé', 2)).toEqual({ value: 'a', truncated: true });
    expect(capUtf8('日本', 5)).toEqual({ value: '日', truncated: true });
    expect(capUtf8('🎉x', 3)).toEqual({ value: '', truncated: true });
    expect(capUtf8('short', DEFAULT_PARSE_LIMITS.maxTextBytes)).toEqual({ value: 'short', truncated: false });
  });
});

describe('NUL and unpaired surrogates in parsed mail', () => {
  const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');
  // UTF-16BE with a high surrogate not followed by a low one: the decoder keeps it, unpaired.
  const loneHigh = `=?utf-16be?B?${b64([0xd8, 0x00, 0x00, 0x41])}?=`;
  const loneLow = `=?utf-16be?B?${b64([0xdc, 0x00, 0x00, 0x42])}?=`;
  const raw = Buffer.from(
    [
      `From: ${loneLow} <odd@example.org>`,
      `To: =?utf-8?B?${Buffer.from('In\u0000box').toString('base64')}?= <inbox@example.com>`,
      `Subject: a\u0000b ${loneHigh}`,
      'X-Odd: \u0000',
      'X-\u0000Key: one',
      '__proto__: kept',
      'Message-ID: <m\u0000id@example.org>',
      'In-Reply-To: <p\u0000@example.org>',
      'References: <r1@example.org> <r\u00002@example.org>',
      'Content-Type: multipart/mixed; boundary=BB',
      '',
      '--BB',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Line one\u0000 with https://example.org/a\u0000b',
      '--BB',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="f\u0000.bin"',
      '',
      'abc',
      '--BB--',
      '',
    ].join('\r\n'),
    'utf8',
  );

  it('replaces each with U+FFFD and lists the fields, with nothing forbidden left', async () => {
    const email = await parseEmail(raw);
    expect(email.subject).toBe('a\ufffdb \ufffdA');
    expect(email.from).toEqual({ address: 'odd@example.org', name: '\ufffdB' });
    expect(email.to).toEqual([{ address: 'inbox@example.com', name: 'In\ufffdbox' }]);
    expect(email.messageId).toBe('m\ufffdid@example.org');
    expect(email.inReplyTo).toBe('p\ufffd@example.org');
    expect(email.references).toEqual(['r1@example.org', 'r\ufffd2@example.org']);
    expect(email.headers['x-odd']).toEqual(['\ufffd']);
    expect(email.text).toContain('Line one\ufffd with');
    expect(email.attachments[0]?.filename).toBe('f\ufffd.bin');
    expect(email.replaced).toEqual(
      expect.arrayContaining([
        'subject',
        'from.name',
        'sender',
        'to[0].name',
        'messageId',
        'inReplyTo',
        'references[1]',
        'headers.subject',
        'headers.x-odd',
        'headers.x-\ufffdkey',
        'text',
        'replyText',
        'attachments[0].filename',
      ]),
    );
    expect(new Set(email.replaced).size).toBe(email.replaced.length);
    // Nothing of the parsed form holds a forbidden character, `replaced` included.
    expect(JSON.stringify(email)).not.toMatch(/\\u0000|\\ud[89ab][0-9a-f]{2}|\\ud[c-f][0-9a-f]{2}/i);
  });

  it('keeps a header named __proto__ as a header', async () => {
    const email = await parseEmail(raw);
    expect(email.headers['x-\ufffdkey']).toEqual(['one']);
    expect(Object.keys(email.headers)).toContain('__proto__');
    expect(Object.getPrototypeOf(email.headers)).toBe(Object.prototype);
    expect(Object.entries(JSON.parse(JSON.stringify(email.headers)))).toContainEqual(['__proto__', ['kept']]);
  });

  it('keeps every value of header names that become equal once cleaned', () => {
    const email = withTextRule(
      makeEmail({ headers: { 'x-\u0000': ['a'], 'x-\ufffd': ['b'], 'x-ok': ['c\u0000'] } }),
    );
    expect(email.headers).toEqual({ 'x-\ufffd': ['a', 'b'], 'x-ok': ['c\ufffd'] });
    expect(email.replaced).toEqual(['headers.x-\ufffd', 'headers.x-ok']);
  });

  it('lists nothing for a clean message', async () => {
    expect((await parseCorpus('address-headers')).replaced).toEqual([]);
  });
});
