import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const TSX = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;
const MODULE = new URL('./index.ts', import.meta.url).href;

describe('secret key file', () => {
  it('is created once when several processes start on one data dir at the same time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-keyrace-'));
    const script = `import { loadOrCreateSecretKey } from ${JSON.stringify(MODULE)}; console.log(loadOrCreateSecretKey(${JSON.stringify(dir)}, undefined).key.toString('hex'));`;
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () =>
        run(process.execPath, ['--import', TSX, '--input-type=module', '-e', script]).then((r) =>
          r.stdout.trim(),
        ),
      ),
    );
    expect(new Set(outputs).size).toBe(1);
    expect(outputs[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(readdirSync(dir)).toEqual(['secret.key']); // no temporary file left behind
  });
});
