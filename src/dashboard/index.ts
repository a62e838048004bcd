export {
  DASHBOARD_CSP,
  type DashboardOptions,
  defaultDashboardDir,
  registerDashboardRoutes,
} from './routes.js';
