import type { Clock } from '../core/clock.js';
import type { Store } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { KeyVerifier, Principal } from '../core/http/server.js';
import { uuidv7 } from '../core/ids.js';
import type { Logger } from '../core/observability/index.js';
import {
  type ApiKeyInfo,
  apiKeyPrefix,
  generateApiKey,
  hashApiKey,
  looksLikeApiKey,
  parseRole,
  validateKeyName,
} from './model.js';
import { findApiKeyByHash, insertApiKey, listApiKeys, revokeApiKey, touchApiKey } from './store.js';

/** Dependencies of the API-key use cases. */
export interface AccessDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
}

/**
 * Creates a key with a role (default `admin`, what every key could do before roles, so that
 * callers written then keep working); the plaintext is returned once and never stored.
 */
export async function createApiKey(
  deps: AccessDeps,
  name: string,
  role: string = 'admin',
): Promise<ApiKeyInfo & { key: string }> {
  const validName = validateKeyName(name);
  const validRole = parseRole(role);
  const key = generateApiKey();
  const id = uuidv7();
  const now = deps.clock.now();
  await deps.store.transaction((tx) =>
    insertApiKey(tx.db, {
      id,
      name: validName,
      role: validRole,
      prefix: apiKeyPrefix(key),
      keyHash: hashApiKey(key),
      now,
    }),
  );
  deps.logger.info(
    { event: 'apikey.created', keyId: id, name: validName, role: validRole },
    'API key created',
  );
  return {
    id,
    name: validName,
    role: validRole,
    prefix: apiKeyPrefix(key),
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
    key,
  };
}

/** Every key, newest first, without the secrets. */
export function listKeys(deps: AccessDeps): Promise<ApiKeyInfo[]> {
  return listApiKeys(deps.store.db);
}

/** Revokes a key by id or prefix; NOT_FOUND when there is none. */
export async function revokeKey(deps: AccessDeps, idOrPrefix: string): Promise<ApiKeyInfo> {
  const key = await deps.store.transaction((tx) => revokeApiKey(tx.db, idOrPrefix.trim(), deps.clock.now()));
  if (!key) throw new AppError('NOT_FOUND', `no API key has the id or prefix ${JSON.stringify(idOrPrefix)}`);
  deps.logger.info({ event: 'apikey.revoked', keyId: key.id }, 'API key revoked');
  return key;
}

/** Recording every use would be a write per request; once a minute per key is enough to show activity. */
const TOUCH_INTERVAL_MS = 60_000;

/** The verifier the HTTP layer uses: one indexed read per request, so a revocation takes effect at once. */
export function createKeyVerifier(deps: AccessDeps): KeyVerifier {
  const lastTouched = new Map<string, number>();
  return async (key: string): Promise<Principal | 'revoked' | undefined> => {
    if (!looksLikeApiKey(key)) return undefined;
    const found = await findApiKeyByHash(deps.store.db, hashApiKey(key));
    if (!found) return undefined;
    if (found.revokedAt !== null) return 'revoked';
    const now = deps.clock.now();
    if (now - (lastTouched.get(found.id) ?? 0) >= TOUCH_INTERVAL_MS) {
      lastTouched.set(found.id, now);
      touchApiKey(deps.store.db, found.id, now).catch((error) =>
        deps.logger.warn(
          { event: 'apikey.touch_failed', keyId: found.id, err: error },
          'cannot record API key use',
        ),
      );
    }
    return { kind: 'api_key', id: found.id, name: found.name, role: found.role };
  };
}
