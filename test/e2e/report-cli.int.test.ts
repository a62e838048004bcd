import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, databaseSkipReason, type TestDatabase } from '../support/database.js';
import { type FacteurProcess, runFacteur, startServe } from '../support/process.js';

const skip = await databaseSkipReason();

/** `facteur report`: list, run --follow, runs, preview, against a running `facteur serve`. */
describe.skipIf(skip)('facteur report', () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let serve: FacteurProcess & { url: string };
  let key: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: mkdtempSync(join(tmpdir(), 'facteur-report-cli-')),
      FACTEUR_JOB_POLL_INTERVAL: '200ms',
    };
    serve = await startServe(env);
    key = (
      JSON.parse((await runFacteur(['apikey', 'create', '--name', 'cli', '--json'], env)).stdout) as {
        key: string;
      }
    ).key;
    const create = (body: Record<string, unknown>) =>
      fetch(`${serve.url}/api/reports`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => expect(r.status, await r.text()).toBe(201));
    await create({
      name: 'daily',
      schedule: { cron: '0 19 * * *', timezone: 'Europe/Paris' },
      to: ['team@example.com'],
      subject: 'Daily {{ data.count }}',
      text: '{{ data.count }} sign-ups',
    });
    await create({
      name: 'broken',
      to: ['team@example.com'],
      subject: 'Broken',
      text: 'x',
      data: { type: 'push' },
      attachCsv: { filename: 'rows.csv', rows: 'rows' },
    });
  });
  afterAll(async () => {
    serve?.child.kill('SIGTERM');
    await serve?.exited;
    await database?.drop();
  });

  it('lists reports with their schedule and next run', async () => {
    const listed = await runFacteur(['report', 'list'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      /daily {2}active {2}"0 19 \* \* \*" Europe\/Paris {2}next: \d{4}-\d\d-\d\dT1[78]:00:00Z/,
    );
    expect(listed.stdout).toMatch(/broken {2}active {2}trigger only/);
  });

  it('run --follow prints each stage as it completes and exits 0 when sent', async () => {
    const run = await runFacteur(['report', 'run', 'daily', '--follow', '--data', '{"count": 3}'], env);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^Started: run \S+ of daily$/);
    expect(lines.filter((l) => /^✓ (fetch|render|queue|send)/.test(l)).map((l) => l.split(/\s+/)[1])).toEqual(
      ['fetch', 'render', 'queue', 'send'],
    );
    expect(run.stdout).toMatch(/sent: 250/);

    const runs = await runFacteur(['report', 'runs', 'daily'], env);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toMatch(/\S+ {2}sent +manual +slot: -/);
  });

  it('run --follow exits 1 when the run fails, with the stage, code and hint', async () => {
    const run = await runFacteur(['report', 'run', 'broken', '--follow', '--data', '{"count": 1}'], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/✓ fetch/);
    expect(run.stdout).toMatch(/✗ render failed/);
    expect(run.stdout).toMatch(/REPORT_RENDER_FAILED: attachCsv\.rows: data\.rows is not an array/);
    expect(run.stdout).toMatch(/hint: .*preview/);
    expect(run.stdout).toMatch(/failed: REPORT_RENDER_FAILED/);
  });

  it('preview renders and sends nothing; a bad option names itself', async () => {
    const preview = await runFacteur(['report', 'preview', 'daily', '--data', '{"count": 9}'], env);
    expect(preview.code).toBe(0);
    expect(preview.stdout).toMatch(/^Subject: Daily 9$/m);
    expect(preview.stdout).toContain('9 sign-ups');
    const bad = await runFacteur(['report', 'preview', 'daily', '--data', '[1]'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--data: must be a JSON object');
    const unknown = await runFacteur(['report', 'run', 'nope'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error [NOT_FOUND]: no report has the id or name nope');
  });
});
