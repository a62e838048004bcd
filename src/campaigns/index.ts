export { CSV_MAX_BYTES, type CsvImportOptions, importCsv } from './csv-import.js';
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
