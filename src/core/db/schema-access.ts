/** People: users, sessions, sign-in links and throttles, and the audit log. (part of the schema: see schema.ts for the conventions). */

/** People who sign in to the dashboard; `email` is lower-cased. */
export interface UsersTable {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'operator' | 'viewer';
  /** `scrypt$...` (access/password.ts), or null for a user who signs in by link only. */
  password_hash: string | null;
  created_at: number;
  updated_at: number;
  disabled_at: number | null;
}

/** Dashboard sessions; the cookie's token is stored as its SHA-256 digest. */
export interface SessionsTable {
  id: string;
  token_hash: string;
  user_id: string;
  method: 'password' | 'magic_link' | 'setup';
  created_at: number;
  last_seen_at: number;
  /** The absolute expiry; the idle expiry is `last_seen_at` + FACTEUR_SESSION_IDLE. */
  expires_at: number;
  address: string | null;
  user_agent: string | null;
}

/** One-time sign-in links: magic links, and the setup link of the first admin (no user). */
export interface LoginLinksTable {
  id: string;
  token_hash: string;
  purpose: 'magic_link' | 'setup';
  user_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  address: string | null;
}

/** Failed sign-ins per `account:<email>` and `address:<ip>`, and the lock they led to. */
export interface LoginThrottleTable {
  key: string;
  window_started_at: number;
  failures: number;
  locked_until: number | null;
}

/** The audit log (`audit/`): append-only; before/after are redacted JSON, at most 16 KB each. */
export interface AuditLogTable {
  id: string;
  at: number;
  actor_kind: 'user' | 'api_key' | 'route_token' | 'system' | 'anonymous';
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  address: string | null;
  request_id: string | null;
  before_json: string | null;
  after_json: string | null;
  outcome: 'ok' | 'refused';
}
