export {
  ACTIVITY_WINDOWS,
  type Activity,
  type ActivityWindow,
  LATENCY_BOUNDS_MS,
  percentileOfClasses,
} from './model.js';
export { registerStatsRoutes } from './routes.js';
export { activity, type StatsDeps } from './service.js';
