export { registerBulkMailRoutes } from './bulk-routes.js';
export { registerCampaignRoutes } from './campaign-routes.js';
export { Campaigns, type CampaignsDeps } from './campaigns.js';
export { CSV_MAX_BYTES, type CsvImportOptions, importCsv } from './csv-import.js';
export { DISPATCH_QUEUE } from './dispatch.js';
export { parseDsn } from './dsn.js';
export type { Feedback, FeedbackKind } from './feedback-model.js';
export { type ContactList, LISTS_CHANNEL, ListRegistry } from './lists.js';
export {
  addressKey,
  type ImportReport,
  normaliseAddress,
  SUPPRESSION_REASONS,
  type SuppressionReason,
} from './model.js';
export { registerAudienceRoutes } from './routes.js';
export { Audiences, type AudiencesDeps } from './service.js';
export { type ContactRecord, isSuppressed, type SuppressionRecord } from './store.js';
export { registerUnsubscribeRoutes } from './unsubscribe-routes.js';
