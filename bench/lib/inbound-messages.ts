import { randomBytes } from 'node:crypto';

/**
 * B6's and B7's test messages, the three kinds of the B7 backlog mix: 4 KB plain-text order
 * notices, 136 KB HTML-only newsletters and 1.4 MB messages with a PDF attachment.
 */

/** The three kinds of the B7 mix. */
export type MessageKind = 'text' | 'html' | 'attachment';

/** Target raw sizes (bytes): 4 KB text, 136 KB HTML, 1.4 MB with an attachment. */
export const MESSAGE_SIZES: Record<MessageKind, number> = {
  text: 4 * 1024,
  html: 136 * 1024,
  attachment: 1_400_000,
};

/** The B7 mix by sequence number: of every 20 messages, 1 has an attachment (5%), 3 are HTML (15%), 16 text (80%). */
export function kindOf(seq: number): MessageKind {
  const slot = seq % 20;
  if (slot === 7) return 'attachment';
  if (slot === 2 || slot === 9 || slot === 15) return 'html';
  return 'text';
}

const WORDS =
  'commande livraison facture colis adresse client suivi numéro réception paiement merci bonjour équipe semaine produit quantité prix total remise délai dépôt retour échange service urgent'.split(
    ' ',
  );

/** Deterministic word stream (xorshift), so every message of a given seq has the same body. */
function words(seed: number, bytes: number, lineWords = 12): string {
  let x = (seed * 2654435761) >>> 0 || 1;
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const line: string[] = [];
    for (let i = 0; i < lineWords; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      line.push(WORDS[x % WORDS.length] as string);
    }
    const text = line.join(' ');
    lines.push(text);
    size += Buffer.byteLength(text) + 2;
  }
  return lines.join('\r\n');
}

function headers(subject: string, messageId: string, contentType: string, extra: string[] = []): string[] {
  return [
    'From: "Boutique Exemple" <orders@shop.example.org>',
    'To: "Alice" <alice@test.local>',
    `Subject: ${subject}`,
    `Message-ID: <${messageId}@bench.example.org>`,
    'Date: Sat, 21 Nov 2026 09:00:00 +0000',
    'MIME-Version: 1.0',
    `Content-Type: ${contentType}`,
    ...extra,
  ];
}

/** Quoted-printable with soft line breaks (what a mail client sends for UTF-8 HTML). */
function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    let encoded = '';
    for (const byte of Buffer.from(line, 'utf8')) {
      encoded +=
        (byte >= 33 && byte <= 126 && byte !== 61) || byte === 32
          ? String.fromCharCode(byte)
          : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    let rest = encoded;
    while (rest.length > 75) {
      let cut = 75;
      // Never split an =XX escape.
      const lastEquals = rest.lastIndexOf('=', cut);
      if (lastEquals > cut - 3) cut = lastEquals;
      out.push(`${rest.slice(0, cut)}=`);
      rest = rest.slice(cut);
    }
    out.push(rest);
  }
  return out.join('\r\n');
}

/** A plain-text order notification of about `bytes` (default 4 KB), with a tracking link. */
export function textMessage(subject: string, messageId: string, bytes = MESSAGE_SIZES.text): Buffer {
  const head = headers(subject, messageId, 'text/plain; charset=utf-8', ['Content-Transfer-Encoding: 8bit']);
  const intro = `Bonjour Alice,\r\n\r\nVotre commande ${messageId} est en route : https://track.example.org/p/${messageId}\r\n\r\n`;
  const fixed = Buffer.byteLength(`${head.join('\r\n')}\r\n\r\n${intro}`) + 2;
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${intro}${words(hash(messageId), bytes - fixed)}\r\n`);
}

/** An HTML-only newsletter of about 136 KB (quoted-printable, layout tables, links): no text part, so the text is rendered from the HTML. */
export function htmlMessage(subject: string, messageId: string, bytes = MESSAGE_SIZES.html): Buffer {
  const head = headers(subject, messageId, 'text/html; charset=utf-8', [
    'Content-Transfer-Encoding: quoted-printable',
  ]);
  const seed = hash(messageId);
  const rows: string[] = [];
  let size = 2000;
  for (let i = 0; size < bytes * 0.93; i++) {
    const text = words(seed + i, 160, 8).replace(/\r\n/g, ' ');
    const row = `<tr><td style="padding:8px 12px;font-family:Arial,sans-serif;font-size:14px;color:#333333;border-bottom:1px solid #eeeeee"><a href="https://shop.example.org/produit/${i}?utm_source=newsletter&amp;utm_medium=email&amp;ref=${messageId}" style="color:#1a73e8;text-decoration:none">Produit n°${i}</a><br>${text}</td><td style="padding:8px 12px;text-align:right;font-family:Arial,sans-serif;font-size:14px">${(i * 7.3).toFixed(2)} €</td></tr>`;
    rows.push(row);
    size += Buffer.byteLength(row) * 1.04;
  }
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${subject}</title><style>body{margin:0;padding:0}table{border-collapse:collapse}</style></head>\n<body><table width="100%" cellpadding="0" cellspacing="0" role="presentation"><tr><td align="center"><table width="600" cellpadding="0" cellspacing="0">\n<tr><td colspan="2"><h1 style="font-family:Arial">Nouveautés de la semaine</h1><p>Bonjour Alice, voici notre sélection (${messageId}).</p></td></tr>\n${rows.join('\n')}\n<tr><td colspan="2"><p style="font-size:11px;color:#999">Se désinscrire : <a href="https://shop.example.org/unsubscribe?id=${messageId}">cliquez ici</a></p></td></tr>\n</table></td></tr></table></body></html>\n`;
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${quotedPrintable(html)}\r\n`);
}

/** A short text part and a PDF-like binary attachment (base64), about 1.4 MB in all. */
export function attachmentMessage(
  subject: string,
  messageId: string,
  bytes = MESSAGE_SIZES.attachment,
): Buffer {
  const boundary = `----=_bench_${messageId}`;
  const head = headers(subject, messageId, `multipart/mixed; boundary="${boundary}"`);
  const text = `Bonjour Alice,\r\n\r\nVeuillez trouver la facture ${messageId} en pièce jointe.\r\n\r\n${words(hash(messageId), 2000)}\r\n`;
  // base64 is 4/3 of the binary plus CRLF every 76 characters.
  const binary = Math.floor(((bytes - 3500) * 3) / 4 / (78 / 76));
  const encoded = randomBytes(binary).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      ...head,
      '',
      'This is a multi-part message in MIME format.',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      text,
      `--${boundary}`,
      `Content-Type: application/pdf; name="facture-${messageId}.pdf"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="facture-${messageId}.pdf"`,
      '',
      encoded,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

/** A message of `kind` with a unique subject and Message-ID. */
export function messageOf(kind: MessageKind, subject: string, messageId: string): Buffer {
  if (kind === 'html') return htmlMessage(subject, messageId);
  if (kind === 'attachment') return attachmentMessage(subject, messageId);
  return textMessage(subject, messageId);
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
