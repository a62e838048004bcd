export {
  type ActorKind,
  type AuditActor,
  type AuditEntryInput,
  type AuditRecorder,
  actorOf,
  type RequestAuditContext,
  requestAuditContext,
} from '../core/audit-entry.js';
export { installAuditHook } from './http.js';
export {
  type AuditEntry,
  type AuditFilters,
  DOCUMENT_LIMIT_BYTES,
  REDACTED,
  redactSecrets,
} from './model.js';
export { registerAuditRoutes } from './routes.js';
export { type AuditDeps, AuditLog, type AuditPage } from './service.js';
