import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { LoadResult } from '../b3-load.js';
import { ROOT } from './child.js';

/**
 * Runs the autocannon CLI (closed loop: each connection sends its next request when the previous
 * answer arrives) in its own process pinned to a core, and converts its JSON output.
 */

/** Options for `runAutocannon`. */
export interface AutocannonSpec {
  url: string;
  key: string;
  body: string;
  connections: number;
  durationS: number;
  /** autocannon `overallRate` (per-connection budgets per second); undefined: as fast as possible. */
  overallRate?: number;
  /** Core to pin to (default 1). */
  core?: number;
}

interface AutocannonJson {
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
  latency: { p50: number; p99: number; max: number };
}

/** Runs one autocannon load and returns what it measured (latencies have 1 ms resolution). */
export function runAutocannon(spec: AutocannonSpec): Promise<LoadResult> {
  const args = [
    '-c',
    String(spec.core ?? 1),
    process.execPath,
    join(ROOT, 'node_modules/autocannon/autocannon.js'),
    '-c',
    String(spec.connections),
    '-d',
    String(spec.durationS),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-H',
    `authorization=Bearer ${spec.key}`,
    '-b',
    spec.body,
    '-j',
    '-n',
    ...(spec.overallRate ? ['-R', String(spec.overallRate), '-C'] : []),
    spec.url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .pop();
      if (code !== 0 || !line) return reject(new Error(`autocannon failed (code ${code}): ${err}${out}`));
      const json = JSON.parse(line) as AutocannonJson;
      const ok = json['2xx'];
      resolve({
        scheduled: ok + json.non2xx + json.errors,
        ok,
        failed: json.non2xx + json.errors + json.timeouts,
        achievedRate: ok / json.duration,
        p50Ms: json.latency.p50,
        p99Ms: json.latency.p99,
        maxMs: json.latency.max,
        unanswered: 0,
      });
    });
  });
}
