export { type ComponentHealth, HealthRegistry, type HealthStatus, type ReadinessReport } from './health.js';
export { createLogger, type Logger, type LoggerOptions, REDACTED_PATHS, silentLogger } from './logger.js';
export { createMetricsRegistry } from './metrics.js';
