import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * Builds the dashboard into `dist/dashboard/`: one bundle (script and stylesheet) with hashed
 * names under `assets/`, so they can be cached for a year, and an `index.html` naming them,
 * which is served uncached. Nothing is loaded from elsewhere (no CDN, no web fonts): the
 * dashboard works offline and under the strict CSP of `src/dashboard/routes.ts`.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Builds the bundle into `outDir` (default `dist/dashboard`) and answers the asset names. */
export async function buildDashboard(outDir = join(ROOT, 'dist', 'dashboard')): Promise<string[]> {
  // Only what this build writes: the server's compiled `src/dashboard/` shares the folder.
  rmSync(join(outDir, 'assets'), { recursive: true, force: true });
  rmSync(join(outDir, 'index.html'), { force: true });
  mkdirSync(join(outDir, 'assets'), { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, 'dashboard', 'src', 'main.tsx')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: join(outDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
  const script = outputs.find((name) => name.endsWith('.js'));
  const style = outputs.find((name) => name.endsWith('.css'));
  if (!script || !style) throw new Error(`dashboard build produced no script or stylesheet: ${outputs}`);
  const template = readFileSync(join(ROOT, 'dashboard', 'index.html'), 'utf8');
  writeFileSync(
    join(outDir, 'index.html'),
    template.replace('%SCRIPT%', `/assets/${script}`).replace('%STYLE%', `/assets/${style}`),
  );
  return outputs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outputs = await buildDashboard(process.argv[2]);
  console.log(`dashboard built: ${outputs.join(', ')}`);
}
