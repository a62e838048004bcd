export { ROLES, type Role } from '../core/http/access-policy.js';
export { type ApiKeyInfo, parseRole } from './model.js';
export { type AccessDeps, createApiKey, createKeyVerifier, listKeys, revokeKey } from './service.js';
