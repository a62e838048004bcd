import { createHmac, randomBytes } from 'node:crypto';
import { Agent } from 'undici';
import { ENDPOINTS, endpointOf, envelopeFor } from './b5-shared.js';
import { onParentMessage, report } from './lib/child.js';
import { UsageMonitor } from './lib/usage.js';

/**
 * B5's baseline (pinned to core 0 by the parent): a raw undici loop that POSTs the same
 * bodies to the same receiver URLs with the same total concurrency, each signed the Standard
 * Webhooks way (webhook-id, webhook-timestamp, webhook-signature `v1,` + base64 HMAC-SHA256 of
 * `${id}.${timestamp}.${body}`). Bodies are built before the clock starts; signing, sending and
 * reading each answer are in the loop. Nothing is recorded anywhere. One `BaselineSpec` per line
 * on stdin, one `BaselineResult` each.
 */

export interface BaselineSpec {
  urls: string[];
  count: number;
  concurrency: number;
  /** First event number (bodies as Facteur would send events first .. first+count-1). */
  first: number;
  /** Prefix of the webhook-ids, so that the receiver tells runs apart. */
  idPrefix: string;
}

export interface BaselineResult {
  count: number;
  ok: number;
  failed: number;
  seconds: number;
  rate: number;
  cpuSeconds: number;
  peakRssBytes: number;
  involuntarySwitches: number;
  /** Set by the parent: CPU of the receiver's process over the run, in cores (near 1: receiver-bound). */
  receiverCores?: number;
}

const monitor = new UsageMonitor();
// One signing key per endpoint, as each endpoint has its own secret.
const keys = Array.from({ length: ENDPOINTS }, () => randomBytes(24));
const agent = new Agent({ keepAliveTimeout: 60_000 });

async function run(spec: BaselineSpec): Promise<BaselineResult> {
  const targets = spec.urls.map((url) => new URL(url));
  const bodies: string[] = new Array(spec.count);
  const createdAt = Date.now();
  for (let i = 0; i < spec.count; i++) bodies[i] = envelopeFor(spec.first + i, createdAt);
  monitor.resetPeak();
  const before = monitor.snapshot();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < spec.count) {
      const index = next++;
      const endpoint = endpointOf(spec.first + index);
      const target = targets[endpoint] as URL;
      const body = bodies[index] as string;
      const id = `${spec.idPrefix}${index}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const mac = createHmac('sha256', keys[endpoint] as Buffer).update(`${id}.${timestamp}.${body}`, 'utf8');
      try {
        const response = await agent.request({
          origin: target.origin,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': `v1,${mac.digest('base64')}`,
          },
          body,
        });
        await response.body.text();
        if (response.statusCode >= 200 && response.statusCode < 300) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const after = monitor.snapshot();
  return {
    count: spec.count,
    ok,
    failed,
    seconds,
    rate: ok / seconds,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    peakRssBytes: after.peakRssBytes,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
  };
}

onParentMessage(async (message) => {
  report(await run(message as BaselineSpec));
});
report({ ready: true });
