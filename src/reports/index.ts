export { RUN_QUEUE } from './jobs.js';
export { PING_QUEUE } from './pings.js';
export { REPORTS_CHANNEL, type Report, ReportRegistry } from './reports.js';
export { registerReportRoutes } from './routes.js';
export { Reports, type ReportsDeps } from './service.js';
