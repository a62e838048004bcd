import { collectDefaultMetrics, Registry } from 'prom-client';

/** A Prometheus registry for one Facteur instance, with Node's process metrics under `facteur_`. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'facteur_' });
  return registry;
}
