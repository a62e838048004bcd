import { randomToken, sha256Hex } from '../core/crypto/index.js';
import { AppError } from '../core/errors.js';
import { isRole, ROLES, type Role } from '../core/http/access-policy.js';

/**
 * API keys: `fct_` followed by 43 random base64url characters (32 bytes). Only a SHA-256 digest
 * is stored: keys are high-entropy, so a fast hash is enough and lookups stay one indexed read.
 */

/** A key as listed (never the key itself). */
export interface ApiKeyInfo {
  id: string;
  name: string;
  /** What the key may do: `viewer` reads, `operator` also changes, `admin` everything (docs/security.md). */
  role: Role;
  /** The first characters of the key, to recognise it (`fct_a1b2c3d4`). */
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

const KEY_PATTERN = /^fct_[A-Za-z0-9_-]{43}$/;

/** A new random key. */
export function generateApiKey(): string {
  return `fct_${randomToken(32)}`;
}

/** True when `key` has the shape of a Facteur key (so garbage costs no database read). */
export function looksLikeApiKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** The stored digest of a key. */
export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** The visible prefix of a key. */
export function apiKeyPrefix(key: string): string {
  return key.slice(0, 12);
}

/** Validates a key name: 1 to 100 printable characters. */
export function validateKeyName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > 100 || hasControlCharacter(trimmed)) {
    throw new AppError('VALIDATION_FAILED', 'the key name must be 1 to 100 printable characters', {
      details: [{ in: 'argument', field: 'name', message: 'expected 1 to 100 printable characters' }],
    });
  }
  return trimmed;
}

/**
 * The role of a new key: one of ROLES, else VALIDATION_FAILED naming `field` (the CLI's
 * `--role`) and the expected values.
 */
export function parseRole(value: string, field = 'role'): Role {
  const role = value.trim().toLowerCase();
  if (isRole(role)) return role;
  const expected = ROLES.join(', ');
  throw new AppError(
    'VALIDATION_FAILED',
    `${field} must be one of ${expected}, not ${JSON.stringify(value)}`,
    {
      details: [
        { in: 'argument', field, message: `expected one of ${expected}, not ${JSON.stringify(value)}` },
      ],
    },
  );
}

function hasControlCharacter(value: string): boolean {
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
