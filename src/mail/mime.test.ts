import { type ParsedMail, simpleParser } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random.js';
import { composeMime, envelopeOf, quotedPrintable } from './mime.js';
import type { OutboundMessage } from './transport.js';

/**
 * The composer against an oracle: mailparser reads what Facteur writes and what nodemailer's
 * general composer writes for the same fields, and must find the same message. Generated
 * messages (seeded, so a failure repeats) cover the characters and shapes that break MIME:
 * non-ASCII everywhere, long lines and words, trailing spaces, `=`, lone CR or LF, files.
 */

const DATE = new Date('2026-12-07T10:00:00Z');

function nodemailerMime(message: OutboundMessage): Promise<Buffer> {
  const composer = new MailComposer({
    from: message.from,
    to: message.to,
    cc: message.cc.length > 0 ? message.cc : undefined,
    replyTo: message.replyTo,
    subject: message.subject,
    text: message.text,
    html: message.html,
    headers: message.headers,
    messageId: message.messageId,
    date: DATE,
    attachments: message.attachments?.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
      encoding: 'base64',
    })),
  });
  return new Promise((resolve, reject) =>
    composer.compile().build((error, raw) => (error ? reject(error) : resolve(raw))),
  );
}

/** RFC 2047 encoded words decoded (mailparser leaves other headers as written). */
function decodeWords(value: string): string {
  return value.replace(/(?:=\?UTF-8\?[BQ]\?[^?]*\?=\s*)+/gi, (run) => {
    const bytes: Buffer[] = [];
    for (const [, kind, data] of run.matchAll(/=\?UTF-8\?([BQ])\?([^?]*)\?=/gi)) {
      bytes.push(
        kind?.toUpperCase() === 'B'
          ? Buffer.from(data ?? '', 'base64')
          : Buffer.from(
              (data ?? '')
                .replace(/_/g, ' ')
                .replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            ),
      );
    }
    return Buffer.concat(bytes).toString('utf8') + (/\s$/.test(run) && !/\?=\s*$/.test(value) ? ' ' : '');
  });
}

/** What a reader sees of a message. */
function seen(parsed: ParsedMail, headerNames: string[]) {
  const addresses = (field: ParsedMail['to']) =>
    (Array.isArray(field) ? field : field ? [field] : []).flatMap((a) =>
      a.value.map((v) => ({ address: v.address, name: v.name })),
    );
  return {
    subject: parsed.subject,
    from: addresses(parsed.from),
    to: addresses(parsed.to),
    cc: addresses(parsed.cc),
    replyTo: addresses(parsed.replyTo),
    messageId: parsed.messageId,
    // At the end of a message, a last line break cannot be told from the one SMTP's DATA adds.
    text: parsed.text?.replace(/\n$/, ''),
    html: parsed.html ? parsed.html.replace(/\n$/, '') : undefined,
    headers: headerNames.map((name) => decodeWords(String(parsed.headers.get(name.toLowerCase()) ?? ''))),
    files: parsed.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content.toString('base64'),
    })),
  };
}

async function expectSameAsNodemailer(message: OutboundMessage): Promise<Buffer> {
  const ours = composeMime(message, DATE);
  const names = Object.keys(message.headers);
  const [mine, theirs] = await Promise.all([
    simpleParser(ours),
    nodemailerMime(message).then((raw) => simpleParser(raw)),
  ]);
  expect(seen(mine, names)).toEqual(seen(theirs, names));
  expectWellFormed(ours);
  return ours;
}

/** CRLF line ends only, no line over 998 octets, headers within 78 columns where spaces allow. */
function expectWellFormed(raw: Buffer): void {
  const text = raw.toString('latin1');
  expect(text).not.toMatch(/[^\r]\n|\r[^\n]/);
  const lines = text.split('\r\n');
  for (const line of lines) expect(line.length).toBeLessThanOrEqual(998);
  const headerEnd = lines.indexOf('');
  for (const line of lines.slice(0, headerEnd)) {
    if (line.trim().includes(' ')) expect(line.length, line).toBeLessThanOrEqual(78);
  }
}

const PIECES = [
  'a',
  'Z',
  '9',
  ' ',
  ' ',
  '=',
  '.',
  '\t',
  'é',
  'ß',
  'ü',
  '€',
  '😀',
  '中',
  'Ж',
  '"',
  '\\',
  '<',
  '>',
  ',',
  ';',
  ':',
  '?',
  '_',
  '-',
];
// A lone CR is a line end to Facteur (normalised to CRLF), a character to nodemailer: not compared.
const LINE_ENDS = ['\n', '\r\n'];

function text(next: () => number, length: number, lines: boolean): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const r = next();
    if (lines && r < 0.03) out += LINE_ENDS[Math.floor(next() * LINE_ENDS.length)];
    else if (r < 0.05) out += 'x'.repeat(Math.floor(next() * 120));
    else out += PIECES[Math.floor(next() * PIECES.length)];
  }
  return out;
}

function generated(seed: number): OutboundMessage {
  const next = seededRandom(seed);
  const name = () =>
    text(next, 1 + Math.floor(next() * 30), false)
      .replace(/[<>"\\]/g, '')
      .trim();
  const mailbox = (i: number) => {
    const n = name();
    return n && next() < 0.7 ? `"${n}" <user${i}@example.com>` : `user${i}@example.com`;
  };
  const withText = next() < 0.8;
  const withHtml = !withText || next() < 0.5;
  return {
    from: mailbox(0),
    to: Array.from({ length: 1 + Math.floor(next() * 12) }, (_, i) => mailbox(i + 1)),
    cc: next() < 0.3 ? [mailbox(50)] : [],
    bcc: [],
    ...(next() < 0.3 ? { replyTo: mailbox(60) } : {}),
    subject: text(next, 1 + Math.floor(next() * 200), false).trim() || 'subject',
    ...(withText ? { text: text(next, Math.floor(next() * 3000), true) } : {}),
    ...(withHtml ? { html: `<p>${text(next, Math.floor(next() * 3000), true)}</p>` } : {}),
    headers:
      next() < 0.5 ? { 'X-Campaign': text(next, 1 + Math.floor(next() * 150), false).trim() || 'x' } : {},
    messageId: `<${seed}.generated@example.com>`,
    ...(next() < 0.3
      ? {
          attachments: [
            {
              filename: `${name() || 'file'}.csv`,
              contentType: 'text/csv',
              content: Buffer.from(text(next, 500, true), 'utf8').toString('base64'),
            },
          ],
        }
      : {}),
  };
}

const plain: OutboundMessage = {
  from: 'Reports <reports@example.com>',
  to: ['ann@example.com', 'Bob Martin <bob@example.com>'],
  cc: ['carol@example.com'],
  bcc: ['dave@example.com', 'ann@example.com'],
  replyTo: 'help@example.com',
  subject: 'Daily report',
  text: 'Hello,\nthe report is attached.\n',
  headers: { 'X-Campaign': 'daily', 'List-Unsubscribe': '<https://facteur.example/u/abc>' },
  messageId: '<m1@example.com>',
};

describe('composeMime', () => {
  it('writes a plain ASCII message as 7bit text with the headers as given', async () => {
    const raw = (await expectSameAsNodemailer(plain)).toString('utf8');
    expect(raw).toContain('\r\nContent-Transfer-Encoding: 7bit\r\n');
    expect(raw).toContain('\r\nList-Unsubscribe: <https://facteur.example/u/abc>\r\n');
    expect(raw).toContain('\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n');
    expect(raw).not.toMatch(/^Bcc:/im);
    expect(raw).not.toContain('dave@example.com');
  });

  it('encodes non-ASCII subjects, names and header values as encoded words', async () => {
    const raw = (
      await expectSameAsNodemailer({
        ...plain,
        from: 'Élodie Müller <elodie@example.com>',
        to: ['"Dupont, Jean" <jean@example.com>', '山田 太郎 <taro@example.com>'],
        subject: `Réunion du club 🎉 ${'très longue '.repeat(12)}`,
        headers: { 'X-Note': 'déjà vu' },
        text: 'Bonjour à tous,\nà demain.',
        html: '<p>Bonjour à tous</p>',
      })
    ).toString('utf8');
    expect(raw).toMatch(/^Subject: =\?UTF-8\?B\?/m);
    expect(raw).toContain('"Dupont, Jean" <jean@example.com>');
    expect(raw).toContain('Content-Transfer-Encoding: quoted-printable');
    expect(raw).toContain('multipart/alternative');
  });

  it('writes internationalised domains in IDNA form, in headers and in the envelope', async () => {
    const message = { ...plain, to: ['Zoë <zoe@bücher.example>'], cc: [], bcc: [] };
    const raw = composeMime(message, DATE).toString('utf8');
    expect(raw).toContain('<zoe@xn--bcher-kva.example>');
    expect(envelopeOf(message)).toEqual({ from: 'reports@example.com', to: ['zoe@xn--bcher-kva.example'] });
  });

  it('puts every recipient once in the envelope, or only those of a retry', () => {
    expect(envelopeOf(plain)).toEqual({
      from: 'reports@example.com',
      to: ['ann@example.com', 'bob@example.com', 'carol@example.com', 'dave@example.com'],
    });
    expect(envelopeOf(plain, ['bob@example.com']).to).toEqual(['bob@example.com']);
  });

  it('attaches files in base64 lines, with non-ASCII names per RFC 2231', async () => {
    const content = Buffer.alloc(5000, 7).toString('base64');
    const raw = (
      await expectSameAsNodemailer({
        ...plain,
        html: '<b>see file</b>',
        attachments: [
          { filename: 'rapport été.csv', contentType: 'text/csv; charset=utf-8', content },
          { filename: 'b.bin', contentType: 'application/octet-stream', content: 'AAEC' },
        ],
      })
    ).toString('utf8');
    expect(raw).toContain("filename*=utf-8''rapport%20%C3%A9t%C3%A9.csv");
    expect(raw).toContain('multipart/mixed');
  });

  it('never lets a file name or type start a header of its own', async () => {
    const raw = composeMime(
      {
        ...plain,
        headers: { 'X-Bad': 'a\r\nBcc: evil@example.com', 'Bad Name': 'x' },
        attachments: [
          { filename: 'a"\r\nX-Injected: 1.txt', contentType: 'text/plain\r\nX: y', content: 'eA==' },
        ],
      },
      DATE,
    ).toString('utf8');
    expect(raw).not.toMatch(/^(X-Injected|X|Bcc|Bad Name):/m);
    expect(raw).toContain('Content-Type: application/octet-stream; name*=');
    const parsed = await simpleParser(raw);
    expect(parsed.attachments[0]?.filename).toBe('a"\r\nX-Injected: 1.txt');
    expect(parsed.headers.get('x-bad')).toBe('a Bcc: evil@example.com');
  });

  it('reads back the same as nodemailer composes it, over 300 generated messages', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const message = generated(seed);
      try {
        await expectSameAsNodemailer(message);
      } catch (error) {
        (error as Error).message = `seed ${seed}: ${(error as Error).message}`;
        throw error;
      }
    }
    // Parsing 600 messages takes about 4 s alone, more beside the database suites.
  }, 60_000);

  it('ends every line with CRLF, whichever line ends the body had', async () => {
    const raw = composeMime({ ...plain, text: 'one\rtwo\nthree\r\nfour' }, DATE).toString('utf8');
    expect(raw.endsWith('\r\n\r\none\r\ntwo\r\nthree\r\nfour')).toBe(true);
    expect((await simpleParser(raw)).text).toBe('one\ntwo\nthree\nfour');
  });
});

describe('quotedPrintable', () => {
  it('keeps lines within 76 columns and encodes what must be encoded', () => {
    const encoded = quotedPrintable(Buffer.from(`${'a'.repeat(200)} \r\nx=1\té\t\r\n.end `, 'utf8'));
    for (const line of encoded.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(encoded).toContain('=20\r\nx=3D1\t=C3=A9=09\r\n.end=20');
    expect(encoded.replace(/=\r\n/g, '')).toBe(`${'a'.repeat(200)}=20\r\nx=3D1\t=C3=A9=09\r\n.end=20`);
  });
});
