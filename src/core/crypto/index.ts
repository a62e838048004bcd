import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Store } from '../db/index.js';
import { AppError } from '../errors.js';

/**
 * Secrets at rest and tokens. Passwords and signing secrets stored in the database are sealed
 * with AES-256-GCM under the instance key; API keys are stored as SHA-256 digests only.
 */

/** The instance key: `FACTEUR_SECRET_KEY`, or `<dataDir>/secret.key` generated (mode 0600) on first start. */
export function loadOrCreateSecretKey(
  dataDir: string,
  fromEnv: Buffer | undefined,
): { key: Buffer; source: 'env' | 'file' | 'generated' } {
  if (fromEnv) return { key: fromEnv, source: 'env' };
  const path = join(dataDir, 'secret.key');
  if (existsSync(path)) {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) {
      throw new AppError('CONFIG_INVALID', `${path} does not hold a 32-byte base64 key`, {
        details: [{ variable: 'FACTEUR_SECRET_KEY', message: `${path} is corrupt; restore it from backup` }],
      });
    }
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return { key, source: 'file' };
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  // Written whole under a temporary name, then linked into place: the link is atomic and fails
  // if another process sharing the data dir got there first, whose key is then the one used.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSecretKey(dataDir, undefined);
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  return { key, source: 'generated' };
}

const SEALED_PREFIX = 'v1:';

/** Encrypts `plaintext` with AES-256-GCM; the result is `v1:<iv>.<tag>.<ciphertext>` in base64url. */
export function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${SEALED_PREFIX}${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${body.toString('base64url')}`;
}

/** Decrypts what `seal` produced; throws CONFIG_INVALID if the key is wrong or the value was altered. */
export function unseal(key: Buffer, sealed: string): string {
  const parts = sealed.startsWith(SEALED_PREFIX) ? sealed.slice(SEALED_PREFIX.length).split('.') : [];
  if (parts.length !== 3) throw new AppError('CONFIG_INVALID', 'a stored secret is not in the sealed format');
  const [iv, tag, body] = parts.map((p) => Buffer.from(p as string, 'base64url')) as [Buffer, Buffer, Buffer];
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new AppError(
      'CONFIG_INVALID',
      'a stored secret cannot be decrypted: FACTEUR_SECRET_KEY (or secret.key) changed',
      { cause: error },
    );
  }
}

/** Hex SHA-256 of `value`. */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A random token of `bytes` bytes, base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** Compares two strings in constant time. */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Shows the first characters of a secret and hides the rest, e.g. `fct_ab12…`. */
export function maskSecret(secret: string, visible = 8): string {
  return secret.length <= visible ? '…' : `${secret.slice(0, visible)}…`;
}

const KEY_CHECK_SETTING = 'secret_key_check';

/** A value that identifies a key without revealing it. */
export function secretKeyCheck(key: Buffer): string {
  return createHmac('sha256', key).update('facteur secret key check v1').digest('hex').slice(0, 32);
}

/**
 * Records the key's check value on first start and refuses to start with another key later:
 * secrets sealed under one key cannot be read under another, and every instance sharing a
 * database must use the same key.
 */
export async function ensureSecretKeyMatches(store: Store, key: Buffer, now: number): Promise<void> {
  const check = secretKeyCheck(key);
  await store.db
    .insertInto('settings')
    .values({ key: KEY_CHECK_SETTING, value: check, updated_at: now })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const stored = await store.db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', KEY_CHECK_SETTING)
    .executeTakeFirstOrThrow();
  if (stored.value !== check) {
    throw new AppError(
      'CONFIG_INVALID',
      "this is not the secret key the database was set up with; every instance sharing a database needs the same key: set FACTEUR_SECRET_KEY to the value in the first instance's <data dir>/secret.key",
      {
        details: [
          { variable: 'FACTEUR_SECRET_KEY', message: 'does not match the key recorded in the database' },
        ],
      },
    );
  }
}
