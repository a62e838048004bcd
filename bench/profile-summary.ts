import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './lib/child.js';

/**
 * Summarises a V8 `.cpuprofile` (from `--cpu-prof`, e.g. `npm run bench -- b3 --profile`):
 * the functions with the most self time, and the project functions (src/, bench/) with the most
 * inclusive time. Usage: `npx tsx bench/profile-summary.ts <file.cpuprofile> [top=25]`.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url;
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
}

function main(): void {
  const [path, topArg] = process.argv.slice(2);
  if (!path) throw new Error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
  const top = Number(topArg ?? 25);
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const total = profile.endTime - profile.startTime;
  const selfByLabel = new Map<string, number>();
  const inclusiveByLabel = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    selfByLabel.set(label(node), (selfByLabel.get(label(node)) ?? 0) + us);
    // Inclusive: count once per distinct frame label on the stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur);
      if (!frame) break;
      const name = label(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusiveByLabel.set(name, (inclusiveByLabel.get(name) ?? 0) + us);
    }
  }
  const pct = (us: number): string => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const print = (title: string, entries: Array<[string, number]>): void => {
    process.stdout.write(`\n${title}\n`);
    for (const [name, us] of entries.slice(0, top)) process.stdout.write(`${pct(us)}  ${name}\n`);
  };
  process.stdout.write(`profile: ${(total / 1e6).toFixed(2)} s wall\n`);
  print(
    'self time',
    [...selfByLabel].sort((a, b) => b[1] - a[1]),
  );
  print(
    'inclusive time',
    [...inclusiveByLabel].sort((a, b) => b[1] - a[1]),
  );
  print(
    'inclusive time, project code',
    [...inclusiveByLabel].filter(([name]) => /\s(src|bench)\//.test(name)).sort((a, b) => b[1] - a[1]),
  );
}

main();
