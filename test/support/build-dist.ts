import { spawnSync } from 'node:child_process';
import { type Dirent, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup: makes sure `dist/` is built from the current sources before any test
 * spawns `facteur`. Process tests run the compiled build, as production does: a child started
 * through tsx spent 2 to 5 s compiling before it answered, dozens of times per run. `npm install`
 * builds `dist/` already (the prepare script); this rebuilds only when a source is newer. The
 * dashboard's bundle (`dist/dashboard`) is rebuilt the same way for the browser tests.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The newest modification time under `dir` of files accepted by `keep`, or 0 when there is none. */
function newest(dir: string, keep: (name: string) => boolean): number {
  let latest = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path, keep));
    else if (keep(entry.name)) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

export default function setup(): void {
  buildServer();
  buildDashboard();
}

function buildServer(): void {
  const sources = newest(join(ROOT, 'src'), (name) => name.endsWith('.ts') && !name.endsWith('.test.ts'));
  // The dashboard's bundle (dist/dashboard/assets) is not the server's build.
  const built = newest(join(ROOT, 'dist'), (name) => name.endsWith('.js') && !/-[A-Z0-9]{8}\.js$/.test(name));
  if (built >= sources && built > 0) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0)
    throw new Error(`building dist/ for the process tests failed (exit ${result.status})`);
}

/** The browser tests load `dist/dashboard`: rebuilt when a file under `dashboard/` is newer. */
function buildDashboard(): void {
  const sources = newest(join(ROOT, 'dashboard'), () => true);
  let built = 0;
  try {
    built = statSync(join(ROOT, 'dist', 'dashboard', 'index.html')).mtimeMs;
  } catch {
    // not built yet
  }
  if (built >= sources && built > 0) return;
  const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const result = spawnSync(process.execPath, [tsx, join(ROOT, 'dashboard', 'build.ts')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`building the dashboard failed (exit ${result.status})`);
}
