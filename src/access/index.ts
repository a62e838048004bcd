export type { ApiKeyInfo } from './model.js';
export { type AccessDeps, createApiKey, createKeyVerifier, listKeys, revokeKey } from './service.js';
