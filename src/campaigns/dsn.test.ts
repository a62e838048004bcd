import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bounceKind, DSN_MAX_BYTES, parseDsn, recipientAddress, statusOf } from './dsn.js';

/**
 * Reading bounces and complaints from received mail: DSNs as Postfix, Exim, Gmail and Exchange
 * write them, ARF abuse reports, and what must give nothing (auto-replies, normal mail,
 * success reports) or not throw (damaged, truncated, hostile input).
 */

/** A fixture of test/fixtures/dsn, with CRLF line ends as on the wire (or LF as stored). */
function fixture(name: string, lineEnds: 'crlf' | 'lf' = 'crlf'): Buffer {
  const text = readFileSync(new URL(`../../test/fixtures/dsn/${name}`, import.meta.url), 'utf8');
  return Buffer.from(lineEnds === 'crlf' ? text.replace(/\r?\n/g, '\r\n') : text, 'utf8');
}

const lineEnds = ['crlf', 'lf'] as const;

describe('parseDsn: delivery status notifications', () => {
  it.each(lineEnds)('reads a Postfix hard bounce (%s)', (ends) => {
    expect(parseDsn(fixture('postfix-hard.eml', ends))).toEqual([
      {
        kind: 'hard_bounce',
        address: 'jean.dupont@example.net',
        source: 'dsn',
        messageIdHeader: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        status: '5.1.1',
        diagnostic:
          '550 5.1.1 <jean.dupont@example.net>: Recipient address rejected: User unknown in virtual mailbox table',
        occurredAt: Date.parse('2026-11-24T09:02:09Z'),
      },
    ]);
  });

  it('reads a Postfix delay warning as a soft bounce', () => {
    expect(parseDsn(fixture('postfix-delayed.eml'))).toEqual([
      {
        kind: 'soft_bounce',
        address: 'marie@slow.example.com',
        source: 'dsn',
        messageIdHeader: '0193a1b2-aaaa-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        status: '4.4.1',
        diagnostic: 'connect to mx.slow.example.com[198.51.100.7]:25: Connection timed out',
        occurredAt: Date.parse('2026-11-24T09:02:09Z'),
      },
    ]);
  });

  it.each(lineEnds)('reads both recipients of an Exim DSN, the generic status made precise (%s)', (ends) => {
    const items = parseDsn(fixture('exim-two-recipients.eml', ends));
    expect(items).toEqual([
      {
        kind: 'hard_bounce',
        address: 'paul@old.example.com',
        source: 'dsn',
        messageIdHeader: '0193a1b2-bbbb-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        status: '5.1.1',
        diagnostic: '550 5.1.1 <paul@old.example.com>: Recipient address rejected: User unknown',
      },
      // Given up after its retry timeout, with a transient status: failed, but not a hard bounce.
      {
        kind: 'soft_bounce',
        address: 'anne@far.example.com',
        source: 'dsn',
        messageIdHeader: '0193a1b2-bbbb-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        status: '4.0.0',
      },
    ]);
  });

  it('reads a Gmail bounce: nested human parts, a multi-line diagnostic, the returned original', () => {
    const [item, ...rest] = parseDsn(fixture('gmail-hard.eml'));
    expect(rest).toEqual([]);
    expect(item).toMatchObject({
      kind: 'hard_bounce',
      address: 'nobody.here@gmail.com',
      messageIdHeader: '0193a1b2-cccc-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
      status: '5.1.1',
      occurredAt: Date.parse('2026-11-24T09:20:03Z'),
    });
    expect(item?.diagnostic).toMatch(
      /^550-5\.1\.1 The email account that you tried to reach does not exist\./,
    );
    expect(item?.diagnostic).toContain('https://support.google.com/mail/?p=NoSuchUser');
    expect(item?.diagnostic).not.toMatch(/\s{2}|\n/);
  });

  it("takes the original Message-ID from Gmail's X-Original-Message-ID when nothing is returned", () => {
    const text = fixture('gmail-hard.eml', 'lf').toString('utf8');
    const cut = text.slice(
      0,
      text.lastIndexOf('--000000000000a1b2c3062709e4f1\nContent-Type: message/rfc822'),
    );
    expect(parseDsn(`${cut}--000000000000a1b2c3062709e4f1--\n`)[0]?.messageIdHeader).toBe(
      '0193a1b2-cccc-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
    );
  });

  it('reads an Exchange Online NDR whose status part is base64 and whose human part is quoted-printable', () => {
    expect(parseDsn(fixture('exchange-base64.eml'))).toEqual([
      {
        kind: 'hard_bounce',
        address: 'Claire.Martin@contoso.example',
        source: 'dsn',
        messageIdHeader: '0193a1b2-dddd-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        status: '5.1.10',
        diagnostic:
          '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Claire.Martin@contoso.example not found by SMTP address lookup',
        occurredAt: Date.parse('2026-11-24T09:30:12Z'),
      },
    ]);
  });

  it('reads upper-case names and types, a folded Content-Type and recipient, and missing blank lines', () => {
    expect(parseDsn(fixture('uppercase-folded.eml'))).toEqual([
      {
        kind: 'hard_bounce',
        address: 'LUC.BERNARD@EXAMPLE.COM',
        source: 'dsn',
        messageIdHeader: 'UPPER-0042@CLUB.EXAMPLE.ORG',
        status: '5.2.2',
        diagnostic: '552-5.2.2 THE EMAIL ACCOUNT THAT YOU TRIED TO REACH IS OVER QUOTA',
        occurredAt: Date.parse('2026-11-24T11:00:00Z'),
      },
    ]);
  });

  it('gives nothing for delivered, relayed or expanded recipients', () => {
    expect(parseDsn(fixture('delivered-success.eml'))).toEqual([]);
  });
});

describe('parseDsn: ARF abuse reports', () => {
  it.each(lineEnds)('reads a complaint with Original-Rcpt-To and a bare Message-ID (%s)', (ends) => {
    expect(parseDsn(fixture('arf-abuse.eml', ends))).toEqual([
      {
        kind: 'complaint',
        address: 'sophie.leroy@mail.example.com',
        source: 'arf',
        messageIdHeader: '0193a1b2-eeee-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        occurredAt: Date.parse('2026-11-26T13:58:02Z'),
      },
    ]);
  });

  it("takes the original's To when the report leaves Original-Rcpt-To out (feedback type in capitals)", () => {
    expect(parseDsn(fixture('arf-redacted.eml'))).toEqual([
      {
        kind: 'complaint',
        address: 'pierre.petit@arf.example.net',
        source: 'arf',
        messageIdHeader: '0193a1b2-ffff-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        occurredAt: Date.parse('2026-11-27T07:59:00Z'),
      },
    ]);
  });

  it('gives nothing for a feedback report that is not abuse', () => {
    const text = fixture('arf-abuse.eml')
      .toString('utf8')
      .replace('Feedback-Type: abuse', 'Feedback-Type: not-spam');
    expect(parseDsn(text)).toEqual([]);
  });

  it('names the message alone when neither the report nor the original names a recipient', () => {
    const text = fixture('arf-redacted.eml', 'lf')
      .toString('utf8')
      .replace('To: "Pierre Petit" <pierre.petit@arf.example.net>', 'To: redacted');
    expect(parseDsn(text)).toEqual([
      {
        kind: 'complaint',
        source: 'arf',
        messageIdHeader: '0193a1b2-ffff-7e5f-8a9b-0c1d2e3f4a5b@club.example.org',
        occurredAt: Date.parse('2026-11-27T07:59:00Z'),
      },
    ]);
  });

  it('gives nothing when no recipient and no Message-ID name anyone', () => {
    const text = fixture('arf-redacted.eml', 'lf')
      .toString('utf8')
      .replace('To: "Pierre Petit" <pierre.petit@arf.example.net>', 'To: redacted')
      .replace(/^Message-ID: .*$/gim, '');
    expect(parseDsn(text)).toEqual([]);
  });
});

describe('parseDsn: what is not a report', () => {
  it('gives nothing for an auto-reply, even one whose text looks like a status', () => {
    expect(parseDsn(fixture('auto-reply.eml'))).toEqual([]);
  });

  it('gives nothing for normal mail with an attachment or a forwarded bounce', () => {
    const forwarded = fixture('postfix-hard.eml', 'lf').toString('utf8');
    const mail = [
      'From: jean@example.net',
      'To: bureau@club.example.org',
      'Subject: Fwd: Undelivered Mail',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="mixed"',
      '',
      '--mixed',
      'Content-Type: text/plain',
      '',
      'Look at this bounce.',
      '--mixed',
      'Content-Type: application/pdf; name="a.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0xLjQK',
      '--mixed',
      'Content-Type: message/rfc822',
      '',
      forwarded,
      '--mixed--',
      '',
    ].join('\r\n');
    expect(parseDsn(mail)).toEqual([]);
  });

  it('gives nothing for a bare delivery-status body outside any multipart', () => {
    expect(
      parseDsn(
        'Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\n',
      ),
    ).toEqual([]);
  });
});

describe('parseDsn: damaged input', () => {
  it('reads what is there when the message is cut short inside the returned headers', () => {
    const text = fixture('postfix-hard.eml', 'lf').toString('utf8');
    const items = parseDsn(text.slice(0, text.indexOf('Subject: =?utf-8?q?R')));
    expect(items).toEqual([
      expect.objectContaining({ kind: 'hard_bounce', address: 'jean.dupont@example.net' }),
    ]);
    // Cut before the Message-ID: the bounce without it.
    expect(items[0]?.messageIdHeader).toBeUndefined();
  });

  it('finds the parts when the boundary parameter is missing', () => {
    const text = fixture('exim-two-recipients.eml')
      .toString('utf8')
      .replace('; boundary=1795511742-eximdsn-1804289383', '');
    expect(parseDsn(text).map((item) => item.address)).toEqual([
      'paul@old.example.com',
      'anne@far.example.com',
    ]);
  });

  it('survives bad bytes, NUL and a recipient that is no address', () => {
    const text = fixture('postfix-hard.eml', 'lf');
    const at = text.indexOf('User unknown in virtual');
    const bad = Buffer.concat([text.subarray(0, at), Buffer.from([0xff, 0x00, 0xc3]), text.subarray(at)]);
    const [item] = parseDsn(bad);
    expect(item?.diagnostic).toContain('\uFFFD');
    expect(item?.diagnostic).not.toContain('\u0000');

    const local = text
      .toString('utf8')
      .replace('Final-Recipient: rfc822; jean.dupont@example.net', 'Final-Recipient: rfc822; root');
    // Original-Recipient is still an address.
    expect(parseDsn(local)[0]?.address).toBe('jean.dupont@example.net');
    const none = local.replace(
      'Original-Recipient: rfc822;jean.dupont@example.net',
      'Original-Recipient: x-unknown; ???',
    );
    expect(parseDsn(none)).toEqual([]);
  });

  it('never throws on garbage, empty or huge input', () => {
    expect(parseDsn('')).toEqual([]);
    expect(parseDsn(Buffer.alloc(0))).toEqual([]);
    let seed = 42;
    const random = Buffer.alloc(200_000, 0).map(() => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed & 0xff;
    });
    expect(parseDsn(random)).toEqual([]);
    const header = 'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n';
    expect(parseDsn(header + '--b\r\n'.repeat(100_000))).toEqual([]);
    expect(
      parseDsn(
        `${header}--b\r\nContent-Type: message/delivery-status\r\n\r\n${'Action: failed\r\n'.repeat(50_000)}`,
      ),
    ).toEqual([]);
    const deep = `${'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'.repeat(1000)}`;
    expect(parseDsn(deep)).toEqual([]);
  });

  it('reads only the first DSN_MAX_BYTES', () => {
    const big = Buffer.concat([
      fixture('postfix-hard.eml').subarray(0, 600),
      Buffer.alloc(DSN_MAX_BYTES, 0x41),
    ]);
    expect(parseDsn(big)).toEqual([]);
  });

  it('caps the number of items of one report', () => {
    const groups = Array.from(
      { length: 1500 },
      (_, i) => `Final-Recipient: rfc822; r${i}@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n`,
    ).join('\r\n');
    const text = `Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n${groups}\r\n--b--\r\n`;
    const items = parseDsn(text);
    expect(items).toHaveLength(1000);
    expect(items[999]?.address).toBe('r999@example.net');
  });
});

describe('the pieces', () => {
  it('classifies actions and statuses', () => {
    expect(bounceKind('failed', '5.1.1')).toBe('hard_bounce');
    expect(bounceKind('failed', '4.4.7')).toBe('soft_bounce');
    expect(bounceKind('failed', undefined)).toBe('hard_bounce');
    expect(bounceKind('delayed', '4.4.1')).toBe('soft_bounce');
    expect(bounceKind('delayed', undefined)).toBe('soft_bounce');
    expect(bounceKind('delivered', '2.0.0')).toBeNull();
    expect(bounceKind('relayed', undefined)).toBeNull();
    expect(bounceKind('expanded', '2.0.0')).toBeNull();
    expect(bounceKind('failed', '2.0.0')).toBeNull();
    expect(bounceKind(undefined, '5.7.1')).toBe('hard_bounce');
    expect(bounceKind(undefined, '4.2.2')).toBe('soft_bounce');
    expect(bounceKind(undefined, undefined)).toBeNull();
    expect(bounceKind('weird', undefined)).toBeNull();
  });

  it('reads statuses from the field, then the diagnostic, never from an IP address', () => {
    expect(statusOf('5.1.1', undefined)).toBe('5.1.1');
    expect(statusOf('5.0.0', '550 5.1.1 User unknown')).toBe('5.1.1');
    expect(statusOf('5.0.0', '451 4.3.0 try later')).toBe('5.0.0');
    expect(statusOf('4.4.1 (timeout)', undefined)).toBe('4.4.1');
    expect(statusOf(undefined, '550-5.7.26 unauthenticated')).toBe('5.7.26');
    expect(statusOf(undefined, '554 rejected by 10.5.1.1')).toBe('5.0.0');
    expect(statusOf(undefined, 'host 192.5.1.1 said no')).toBeUndefined();
    expect(statusOf('garbage', undefined)).toBeUndefined();
  });

  it('reads recipient fields in their written forms', () => {
    expect(recipientAddress('rfc822; jane@example.com')).toBe('jane@example.com');
    expect(recipientAddress('RFC822;<jane@example.com>')).toBe('jane@example.com');
    expect(recipientAddress('jane@example.com')).toBe('jane@example.com');
    expect(recipientAddress('rfc822; jane@example.com (Jane)')).toBe('jane@example.com');
    expect(recipientAddress('utf-8; j\\x{E9}r\\x{F4}me@example.fr')).toBe('jérôme@example.fr');
    expect(recipientAddress('rfc822; root')).toBeUndefined();
    expect(recipientAddress('rfc822;')).toBeUndefined();
    expect(recipientAddress(undefined)).toBeUndefined();
  });
});
