import iconv from 'iconv-lite';

/**
 * A corpus of messages that trip parsers up: encoded words, legacy charsets, nested multiparts,
 * malformed headers, huge parts, bare LF line endings. Parser unit tests run each one through
 * `parseEmail`; IMAP end-to-end tests append them to a mailbox and count them back, so every
 * message has its own subject. Built by hand (not with a composer) so the bytes are exactly the
 * oddities described, and synchronously so any test can call it.
 */

/** What a parser must find in a corpus message. */
export interface DifficultExpectation {
  subject?: string;
  fromAddress?: string;
  /** The Message-ID without angle brackets; null when the message has none. */
  messageId?: string | null;
  textIncludes?: string;
  attachments?: number;
  hasHtml?: boolean;
}

/** One corpus message. */
export interface DifficultMessage {
  name: string;
  raw: Buffer;
  expect: DifficultExpectation;
}

/** Size in bytes of the large attachment (20 MiB). */
export const LARGE_ATTACHMENT_BYTES = 20 * 1024 * 1024;

/** Characters of the single-line HTML body (about 1 MB, under the default 1 MiB cap). */
export const LONG_HTML_CHARS = 1_000_000;

const CRLF = '\r\n';
const DATE = 'Tue, 02 Jan 2024 10:30:00 +0100';
const FROM = 'Corpus Sender <sender@difficult.facteur.test>';
const FROM_ADDRESS = 'sender@difficult.facteur.test';

/** Deterministic pseudo-random bytes (xorshift32), so the attachment's SHA-256 is fixed. */
export function largeAttachment(): Buffer {
  const bytes = Buffer.alloc(LARGE_ATTACHMENT_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let state = 0x9e3779b9;
  for (let offset = 0; offset < bytes.length; offset += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    view.setUint32(offset, state >>> 0, true);
  }
  return bytes;
}

/** Base64 in 76-character lines, as RFC 2045 asks. */
function base64Lines(bytes: Buffer): string {
  const encoded = bytes.toString('base64');
  const lines: string[] = [];
  for (let start = 0; start < encoded.length; start += 76) lines.push(encoded.slice(start, start + 76));
  return lines.join(CRLF);
}

/** Quoted-printable of `bytes` (text with LF line breaks), soft-wrapped under 76 characters. */
function quotedPrintable(bytes: Buffer): string {
  let out = '';
  let line = '';
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index] as number;
    if (byte === 0x0a) {
      out += line + CRLF;
      line = '';
      continue;
    }
    const atLineEnd = index + 1 === bytes.length || bytes[index + 1] === 0x0a;
    const plain = (byte >= 33 && byte <= 126 && byte !== 61) || (byte === 32 && !atLineEnd);
    const token = plain ? String.fromCharCode(byte) : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    if (line.length + token.length > 73) {
      out += `${line}=${CRLF}`;
      line = '';
    }
    line += token;
  }
  return out + line;
}

/** ISO-2022-JP for JIS X 0208 text: the EUC-JP bytes with the high bit cleared, between escapes. */
function iso2022jp(text: string): Buffer {
  const bytes: number[] = [];
  let jis = false;
  for (const char of text) {
    const ascii = char.charCodeAt(0) < 0x80;
    if (ascii === jis) {
      bytes.push(...(ascii ? [0x1b, 0x28, 0x42] : [0x1b, 0x24, 0x42]));
      jis = !ascii;
    }
    for (const byte of ascii ? Buffer.from(char) : iconv.encode(char, 'euc-jp')) bytes.push(byte & 0x7f);
  }
  if (jis) bytes.push(0x1b, 0x28, 0x42);
  return Buffer.from(bytes);
}

/** The standard headers of a corpus message, then `extra`, as lines. */
function headerLines(name: string, subject: string, extra: string[] = []): string[] {
  return [
    `From: ${FROM}`,
    'To: Corpus Recipient <recipient@difficult.facteur.test>',
    `Subject: ${subject}`,
    `Date: ${DATE}`,
    `Message-ID: <${name}@difficult.facteur.test>`,
    'MIME-Version: 1.0',
    ...extra,
  ];
}

/** Header lines, an empty line, the body: the raw message. */
function assemble(lines: string[], body: string | Buffer, eol = CRLF): Buffer {
  return Buffer.concat([Buffer.from(lines.join(eol) + eol + eol, 'binary'), Buffer.from(body)]);
}

function standardExpect(name: string, subject: string): DifficultExpectation {
  return { subject, fromAddress: FROM_ADDRESS, messageId: `${name}@difficult.facteur.test` };
}

type Encoding = 'base64' | 'quoted-printable' | '8bit' | '7bit';

/** A text/plain message whose body is `text` in `charset`. */
function charsetMessage(charset: string, text: string, encoding: Encoding): DifficultMessage {
  const name = `charset-${charset}`;
  const subject = `Charset ${charset} (${encoding})`;
  const bytes = charset === 'iso-2022-jp' ? iso2022jp(text) : iconv.encode(text, charset);
  const body =
    encoding === 'base64'
      ? base64Lines(bytes)
      : encoding === 'quoted-printable'
        ? quotedPrintable(bytes)
        : bytes;
  const raw = assemble(
    headerLines(name, subject, [
      `Content-Type: text/plain; charset=${charset}`,
      `Content-Transfer-Encoding: ${encoding}`,
    ]),
    body,
  );
  return { name, raw, expect: { ...standardExpect(name, subject), textIncludes: text, hasHtml: false } };
}

function charsetMessages(): DifficultMessage[] {
  return [
    charsetMessage('utf-8', 'Ça marche : naïve façade, 日本語, fête 🎉', '8bit'),
    charsetMessage('iso-8859-1', "Déjà vu à l'hôtel, señor niño, prix 5 £", 'quoted-printable'),
    charsetMessage('iso-8859-15', 'Prix : 42 € ; cœur, Œuvre, Ÿ', 'quoted-printable'),
    charsetMessage('windows-1252', '“Guillemets” — 10 € … ‘ok’ • fin', 'base64'),
    charsetMessage('koi8-r', 'Съешь же ещё этих мягких французских булок, да выпей чаю', '8bit'),
    charsetMessage('windows-1251', 'Здравствуйте! Это письмо на русском языке.', 'base64'),
    charsetMessage('shift_jis', 'こんにちは世界、日本語のテキストです。', 'base64'),
    charsetMessage('iso-2022-jp', 'お世話になっております。山田です。', '7bit'),
    charsetMessage('gbk', '你好，世界！这是一封中文邮件。', 'base64'),
    charsetMessage('big5', '繁體中文郵件測試，你好世界。', 'base64'),
  ];
}

function encodedWordSubjects(): DifficultMessage[] {
  const utf8 = Buffer.from('Réunion à 10h ✓ café');
  const cases: Array<[string, string, string]> = [
    ['subject-b-utf8', `=?UTF-8?B?${utf8.toString('base64')}?=`, 'Réunion à 10h ✓ café'],
    ['subject-q-latin1', '=?ISO-8859-1?Q?Caf=E9_cr=E8me_br=FBl=E9e?=', 'Café crème brûlée'],
    [
      // A character split between two encoded words: decoders must join the bytes first.
      'subject-split-b',
      `=?UTF-8?B?${utf8.subarray(0, 2).toString('base64')}?=\r\n =?UTF-8?B?${utf8.subarray(2).toString('base64')}?= (split)`,
      'Réunion à 10h ✓ café (split)',
    ],
    ['subject-split-q', 'Re: =?utf-8?Q?Gr=C3=BC=C3?= =?utf-8?Q?=9Fe_aus?= Paris', 'Re: Grüße aus Paris'],
    ['subject-mixed-latin1', 'Vu =?iso-8859-1?q?d=E9j=E0?= ici', 'Vu déjà ici'],
  ];
  return cases.map(([name, encoded, decoded]) => ({
    name,
    raw: assemble(
      headerLines(name, encoded, ['Content-Type: text/plain; charset=utf-8']),
      `Body of ${name}.`,
    ),
    expect: { ...standardExpect(name, decoded), textIncludes: `Body of ${name}.` },
  }));
}

/** mixed > (alternative > (text, related > (html, inline image)), PDF attachment). */
function nestedMultipart(): DifficultMessage {
  const name = 'nested-multipart';
  const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
  const body = [
    '--mixed',
    'Content-Type: multipart/alternative; boundary="alt"',
    '',
    '--alt',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Plain part of the nested message: https://example.com/nested-plain',
    '--alt',
    'Content-Type: multipart/related; boundary="rel"',
    '',
    '--rel',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>HTML part <img src="cid:logo@difficult"> <a href="https://example.com/nested-html">see</a></p>',
    '--rel',
    'Content-Type: image/png',
    'Content-Transfer-Encoding: base64',
    'Content-ID: <logo@difficult>',
    'Content-Disposition: inline; filename="logo.png"',
    '',
    base64Lines(png),
    '--rel--',
    '--alt--',
    '--mixed',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="report.pdf"',
    '',
    base64Lines(Buffer.from('%PDF-1.4\n% a tiny not-really PDF\n')),
    '--mixed--',
    '',
  ].join(CRLF);
  const subject = 'Nested multipart with inline image';
  return {
    name,
    raw: assemble(headerLines(name, subject, ['Content-Type: multipart/mixed; boundary="mixed"']), body),
    expect: {
      ...standardExpect(name, subject),
      textIncludes: 'Plain part of the nested message',
      attachments: 2,
      hasHtml: true,
    },
  };
}

function malformedHeaders(): DifficultMessage[] {
  // [name, Subject as written, Subject decoded, extra header lines]
  const cases: Array<[string, string, string, string[]]> = [
    ['header-without-colon', 'A header line without a colon', '', ['This line has no colon']],
    [
      'broken-encoded-word',
      'Broken =?UTF-8?B?w6k=?= word =?UTF-8?Q?unterminated',
      'Broken é word =?UTF-8?Q?unterminated',
      [],
    ],
    ['unparseable-date', 'A Date header nobody can read', '', ['Date: the day after tomorrow, at teatime']],
    [
      'garbage-address-list',
      'An address list with garbage',
      '',
      ['Cc: , ,, <>, Bob <BOB@Example.com>, @@@, ;;, "unterminated <nobody@'],
    ],
  ];
  return cases.map(([name, written, decoded, extra]) => {
    // A malformed Date replaces the good one rather than following it.
    const replacesDate = extra.some((line) => line.startsWith('Date:'));
    const standard = headerLines(name, written).filter((line) => !replacesDate || !line.startsWith('Date:'));
    return {
      name,
      raw: assemble([...standard, ...extra, 'Content-Type: text/plain; charset=utf-8'], `Body of ${name}.`),
      expect: { ...standardExpect(name, decoded || written), textIncludes: `Body of ${name}.` },
    };
  });
}

/** Multi-valued headers, display names, mixed-case addresses, a group, threading headers. */
function addressHeaders(): DifficultMessage {
  const name = 'address-headers';
  const subject = 'Addresses, names and repeated headers';
  const lines = [
    'Received: from relay2.example.net by mx.difficult.facteur.test; Tue, 02 Jan 2024 10:30:02 +0100',
    'Received: from laptop by relay2.example.net; Tue, 02 Jan 2024 10:30:01 +0100',
    'From: =?UTF-8?Q?Jos=C3=A9_Garc=C3=ADa?= <Jose.Garcia@Example.COM>',
    'To: "Doe, Jane" <JANE@Example.com>, Team: Ann <ann@example.com>, bob@EXAMPLE.com;',
    'Cc: Carol <carol@example.com>',
    'Reply-To: Replies <Replies@Example.com>',
    `Subject: ${subject}`,
    `Date: ${DATE}`,
    `Message-ID: <${name}@difficult.facteur.test>`,
    'In-Reply-To: <parent@difficult.facteur.test>',
    'References: <root@difficult.facteur.test> <parent@difficult.facteur.test>',
    'X-Custom: =?UTF-8?B?w6l0w6k=?= custom',
    'Content-Type: text/plain; charset=utf-8',
  ];
  const body = 'Thanks, see https://example.com/a?x=1&y=2.\n\nOn Mon, 1 Jan 2024, Jane wrote:\n> quoted\n';
  return {
    name,
    raw: assemble(lines, body.replace(/\n/g, CRLF)),
    expect: {
      subject,
      fromAddress: 'jose.garcia@example.com',
      messageId: `${name}@difficult.facteur.test`,
      textIncludes: 'Thanks, see https://example.com/a?x=1&y=2.',
      attachments: 0,
      hasHtml: false,
    },
  };
}

function simpleCases(): DifficultMessage[] {
  const noId = 'no-message-id';
  const html = 'html-only';
  const lf = 'bare-lf';
  const empty = 'empty-body';
  return [
    {
      name: noId,
      raw: assemble(
        headerLines(noId, 'No Message-ID at all').filter((line) => !line.startsWith('Message-ID')),
        'This message has no Message-ID.',
      ),
      expect: { subject: 'No Message-ID at all', messageId: null, textIncludes: 'has no Message-ID' },
    },
    {
      name: html,
      raw: assemble(
        headerLines(html, 'HTML only, no text part', ['Content-Type: text/html; charset=utf-8']),
        '<html><body><h1>Bonjour</h1><p>Only <b>HTML</b> here, <a href="https://example.com/html?a=1&amp;b=2">link</a>.</p></body></html>',
      ),
      expect: {
        ...standardExpect(html, 'HTML only, no text part'),
        textIncludes: 'Only HTML here',
        hasHtml: true,
      },
    },
    {
      name: lf,
      raw: assemble(
        headerLines(lf, 'Bare LF line endings', ['Content-Type: text/plain; charset=utf-8']),
        'First line\nsecond line with é\n',
        '\n',
      ),
      expect: { ...standardExpect(lf, 'Bare LF line endings'), textIncludes: 'second line with é' },
    },
    {
      name: empty,
      raw: assemble(headerLines(empty, 'An empty body', ['Content-Type: text/plain; charset=utf-8']), ''),
      expect: { ...standardExpect(empty, 'An empty body'), attachments: 0, hasHtml: false },
    },
  ];
}

function largeMessages(): DifficultMessage[] {
  const attachment = 'attachment-20mb';
  const longHtml = 'long-single-line-html';
  const paragraph =
    '<p>Paragraph of a very long newsletter <a href="https://example.com/long">read more</a></p>';
  const html = `<html><body>${paragraph.repeat(Math.ceil(LONG_HTML_CHARS / paragraph.length))}</body></html>`;
  const mixed = [
    '--big',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The archive is attached.',
    '--big',
    'Content-Type: application/octet-stream; name="archive.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="archive.bin"',
    '',
    base64Lines(largeAttachment()),
    '--big--',
    '',
  ].join(CRLF);
  return [
    {
      name: attachment,
      raw: assemble(
        headerLines(attachment, 'A 20 MB attachment', ['Content-Type: multipart/mixed; boundary="big"']),
        mixed,
      ),
      expect: {
        ...standardExpect(attachment, 'A 20 MB attachment'),
        textIncludes: 'The archive is attached.',
        attachments: 1,
      },
    },
    {
      name: longHtml,
      raw: assemble(
        headerLines(longHtml, 'A 1 MB HTML body on one line', ['Content-Type: text/html; charset=utf-8']),
        html,
      ),
      expect: {
        ...standardExpect(longHtml, 'A 1 MB HTML body on one line'),
        textIncludes: 'Paragraph of a very long newsletter',
        hasHtml: true,
      },
    },
  ];
}

/** Every corpus message, each with a distinct subject; built fresh on each call (callers may consume the buffers). */
export function difficultMessages(): DifficultMessage[] {
  return [
    ...encodedWordSubjects(),
    ...charsetMessages(),
    nestedMultipart(),
    ...malformedHeaders(),
    addressHeaders(),
    ...simpleCases(),
    ...largeMessages(),
  ];
}
