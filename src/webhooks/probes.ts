import type { DependencyProbe } from '../core/observability/index.js';
import type { Endpoint } from './endpoints.js';
import type { WebhookHttpClient } from './http-client.js';

/**
 * Dependency probes of webhook endpoints (FACTEUR_PROBE_INTERVAL): a `HEAD /` to each active
 * endpoint's origin through the delivery client, hence through the SSRF guard on connect. It
 * carries no signature and none of the endpoint's headers (they may be tokens), and sends no
 * event: any HTTP answer means the receiver is reachable; only a DNS, connection, TLS or timeout
 * failure counts as a failed call.
 */
export function endpointProbes(endpoints: Iterable<Endpoint>, client: WebhookHttpClient): DependencyProbe[] {
  const probes: DependencyProbe[] = [];
  for (const endpoint of endpoints) {
    if (endpoint.status !== 'active') continue;
    let origin: string;
    try {
      origin = new URL(endpoint.settings.url).origin;
    } catch {
      continue; // refused on save; nothing to probe
    }
    probes.push({
      kind: 'endpoint',
      name: endpoint.settings.name,
      timeoutCode: 'WEBHOOK_TIMEOUT',
      fallbackCode: 'WEBHOOK_CONNECT_FAILED',
      run: async ({ signal, timeoutMs }) => {
        await client.send({
          url: `${origin}/`,
          method: 'HEAD',
          headers: {},
          body: '',
          connectTimeoutMs: Math.min(endpoint.settings.connectTimeoutMs, timeoutMs),
          timeoutMs,
          signal,
        });
      },
    });
  }
  return probes;
}
