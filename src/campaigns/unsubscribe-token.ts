import { createHmac, hkdfSync } from 'node:crypto';
import { safeEqual } from '../core/crypto/index.js';

/**
 * The signed per-recipient unsubscribe link (RFC 8058): `/u/<token>`, where the token names the
 * campaign and the ledger row and carries an HMAC under a key derived from the instance's
 * secret key, so a link cannot be forged or pointed at another recipient. Pure: no I/O.
 */

/** The HMAC key for unsubscribe links, derived from the secret key (never the key itself). */
export function unsubscribeKey(secretKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'facteur unsubscribe v1', 32));
}

function mac(key: Buffer, body: string): string {
  return createHmac('sha256', key).update(body).digest('base64url').slice(0, 32);
}

/** The token of one ledger row. */
export function signUnsubscribe(key: Buffer, campaignId: string, seq: number): string {
  const body = Buffer.from(`${campaignId}:${seq}`).toString('base64url');
  return `${body}.${mac(key, body)}`;
}

/** The row a token names, or null when it is malformed or its signature does not match. */
export function verifyUnsubscribe(key: Buffer, token: string): { campaignId: string; seq: number } | null {
  const match = /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{32})$/.exec(token);
  if (!match) return null;
  const [, body, signature] = match as unknown as [string, string, string];
  if (!safeEqual(mac(key, body), signature)) return null;
  const text = Buffer.from(body, 'base64url').toString('utf8');
  const colon = text.lastIndexOf(':');
  const seq = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(seq) || seq < 0) return null;
  return { campaignId: text.slice(0, colon), seq };
}
