export { type DoctorMailbox, IMAP_DOCTOR_TIMEOUTS } from './imap.js';
export { type CheckReport, formatStage, type StageResult } from './model.js';
export { registerDoctorRoutes } from './routes.js';
export {
  type DoctorDeps,
  doctorAll,
  doctorImap,
  doctorSmtp,
  doctorTransport,
  doctorWebhook,
  type SmtpDoctorInput,
  smtpTarget,
  type TransportDeps,
  transportLabel,
} from './service.js';
export type { SmtpTimeouts } from './smtp.js';
