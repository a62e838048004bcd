export { ROLES, type Role } from '../core/http/access-policy.js';
export { Accounts, type AccountsDeps, type ActiveSession, type SessionPolicy } from './accounts.js';
export { registerAuthRoutes } from './auth-routes.js';
export { type ApiKeyInfo, parseRole } from './model.js';
export { type AccessDeps, createApiKey, createKeyVerifier, listKeys, revokeKey } from './service.js';
export { createSessionVerifier } from './session-cookie.js';
export { DEFAULT_SIGN_IN_POLICY, SignIn, type SignInPolicy } from './sign-in.js';
export { registerUserRoutes } from './user-routes.js';
