import { FacteurClient } from './lib/api.js';
import { runAutocannon } from './lib/autocannon.js';
import { type BenchChild, spawnPinned } from './lib/child.js';
import { type BenchOptions, type BenchReport, progress, type Sync, syncLabel } from './lib/report.js';
import { fmt, fmtInt, fmtSpread, median, ratioSpread, verdict } from './lib/stats.js';

/**
 * B3r, the report trigger's accept path: `POST /api/reports/{id}/runs` (a run and its job in one
 * group commit, answered 202) against `POST /api/messages` (a message and its job) on the same
 * Facteur process, alternating phases each round at saturation with autocannon on the other
 * core. Issue 11 asks the trigger to answer as fast as the send; the target is >= 0.9x of the
 * send's throughput and a p99 within 1.25x of the send's. The engine is stopped (as in B3), so
 * only the accept path is measured.
 */

const CONNECTIONS = 64;
const MESSAGE = JSON.stringify({ to: ['a@example.com'], subject: 's', text: 't' });
const TRIGGER = JSON.stringify({ data: { signups: 42 } });

interface Server {
  child: BenchChild;
  url: string;
  key: string;
}

async function startServer(sync: Sync): Promise<Server> {
  const child = spawnPinned({ core: 0, script: 'bench/b3-server.ts', args: ['facteur', sync] });
  return { child, ...(await child.next<{ url: string; key: string }>(60_000)) };
}

async function stopServer(server: Server): Promise<void> {
  server.child.send({ cmd: 'stop' });
  await server.child.next(60_000).catch(() => undefined);
  server.child.kill();
  await server.child.exited;
}

interface Sample {
  rate: number;
  p99Ms: number;
  failed: number;
}

export async function runB3r(options: BenchOptions): Promise<BenchReport> {
  const durationS = Number(options.flags['phase-seconds'] ?? (options.quick ? 2 : 5));
  const rows: string[] = [];
  const data: Record<string, unknown> = {};
  for (const sync of options.syncs) {
    const messages: Sample[] = [];
    const triggers: Sample[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      const server = await startServer(sync);
      const client = new FacteurClient(server.url, server.key, 1);
      try {
        const report = await client.call<{ id: string }>(
          'POST',
          '/reports',
          {
            name: `bench-${round}`,
            to: ['team@example.com'],
            subject: 'Sign-ups: {{ data.signups }}',
            text: '{{ data.signups }}',
            data: { type: 'push' },
          },
          201,
        );
        const phase = async (path: string, body: string, seconds = durationS): Promise<Sample> => {
          const result = await runAutocannon({
            url: `${server.url}${path}`,
            key: server.key,
            body,
            connections: CONNECTIONS,
            durationS: seconds,
          });
          return { rate: result.achievedRate, p99Ms: result.p99Ms, failed: result.failed };
        };
        // Each route is warmed up in each process (JIT, prepared statements) before either is
        // measured; then the order alternates, so that neither always runs on the fuller database.
        await phase('/api/messages', MESSAGE, 2);
        await phase(`/api/reports/${report.id}/runs`, TRIGGER, 2);
        const order = round % 2 === 0 ? ['messages', 'trigger'] : ['trigger', 'messages'];
        const got: Record<string, Sample> = {};
        for (const which of order) {
          got[which] =
            which === 'messages'
              ? await phase('/api/messages', MESSAGE)
              : await phase(`/api/reports/${report.id}/runs`, TRIGGER);
        }
        messages.push(got.messages as Sample);
        triggers.push(got.trigger as Sample);
        progress(
          `b3r ${sync} round ${round}: messages ${fmtInt(got.messages?.rate ?? 0)}/s p99 ${got.messages?.p99Ms} ms, trigger ${fmtInt(got.trigger?.rate ?? 0)}/s p99 ${got.trigger?.p99Ms} ms`,
        );
      } finally {
        await client.close();
        await stopServer(server);
      }
    }
    const rate = ratioSpread(
      triggers.map((t) => t.rate),
      messages.map((m) => m.rate),
    );
    const p99 = ratioSpread(
      triggers.map((t) => Math.max(t.p99Ms, 1)),
      messages.map((m) => Math.max(m.p99Ms, 1)),
    );
    const failed = [...messages, ...triggers].reduce((n, s) => n + s.failed, 0);
    rows.push(
      `B3r ${syncLabel(sync)}: trigger ${fmtInt(median(triggers.map((t) => t.rate)))}/s vs messages ${fmtInt(median(messages.map((m) => m.rate)))}/s, ratio ${fmtSpread(rate)} target >= 0.9 ${verdict(rate.median >= 0.9)}; p99 ratio ${fmtSpread(p99)} target <= 1.25 ${verdict(p99.median <= 1.25)}; ${fmt(failed, 0)} failed requests`,
    );
    data[sync] = { rate, p99, messages, triggers, failed, connections: CONNECTIONS, durationS };
  }
  return { id: 'b3r', rows, data };
}
