export { SettingsCollection, type SettingsDeps, throwProblems, type WriteOptions } from './collection.js';
export type {
  Prepared,
  SettingsChange,
  SettingsExport,
  SettingsKind,
  SettingsRecord,
  SettingsRow,
  SettingsTableName,
} from './contract.js';
export { SettingsDocument } from './document.js';
export { registerSettingsRoutes, type SettingsResource } from './routes.js';
export { exportCollection, type ImportResult, importCollection } from './transfer.js';
