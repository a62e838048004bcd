export type { WriteActor } from './audit.js';
export { SettingsCollection, type SettingsDeps, type WriteOptions } from './collection.js';
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
export { throwProblems } from './problems.js';
export { registerSettingsRoutes, type SettingsResource } from './routes.js';
export { exportCollection, type ImportResult, importCollection } from './transfer.js';
