import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  databaseSkipReason,
  type TestDatabase,
  testDialect,
} from '../support/database.js';
import { runFacteur, startServe } from '../support/process.js';
import { type SmtpSink, startSmtpSink } from '../support/smtp-sink.js';

// The command line's own behaviour (import report, progress bar, exit code) does not depend on the
// database, and each run spawns three processes: it runs once, on SQLite (campaigns themselves
// are tested on both in src/campaigns and test/e2e/campaign-crash).
const skip =
  testDialect() === 'sqlite'
    ? await databaseSkipReason()
    : 'the CLI test runs once, on SQLite (this run is PostgreSQL)';

/** The seed's case from the command line: a members file, a template, send and watch to the end. */
describe.skipIf(skip)('facteur campaign send FILE.csv --watch', () => {
  let database: TestDatabase;
  let sink: SmtpSink;
  beforeAll(async () => {
    database = await createTestDatabase();
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink?.close();
    await database?.drop();
  });

  it('imports the good rows, reports the bad ones by line, sends and exits 0 at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-campaign-cli-'));
    const env = {
      FACTEUR_DATABASE_URL: database.url,
      FACTEUR_DATA_DIR: dir,
      FACTEUR_SMTP_URL: sink.url,
      FACTEUR_LOG_LEVEL: 'info',
    };
    const csv = join(dir, 'membres.csv');
    writeFileSync(
      csv,
      Buffer.from(
        'Prénom;Nom;Courriel\nHélène;Dupont;helene@example.org\nJean;Sans;pas-une-adresse\nZoé;Petit;zoe@example.org\n',
        'latin1',
      ),
    );
    const template = join(dir, 'ag.html');
    writeFileSync(
      template,
      '<p>Bonjour {{ name }},</p><p>AG samedi.</p><p><a href="{{ unsubscribe_url }}">Se désinscrire</a></p>',
    );
    const serve = await startServe(env);
    try {
      const result = await runFacteur(
        [
          'campaign',
          'send',
          csv,
          '--subject',
          'AG du club',
          '--template',
          template,
          '--name-column',
          'Prénom,Nom',
          '--watch',
        ],
        env,
      );
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('3 rows, 2 imported, 0 duplicates, 1 refused (latin1, delimiter ";")');
      expect(result.stdout).toMatch(/line 3: Courriel is not an email address/);
      expect(result.stdout).toMatch(/\[#{30}\] 100% 2\/2 · sent 2 failed 0/);
      expect(result.code).toBe(0);
      expect(sink.messages.map((m) => m.to[0]).sort()).toEqual(['helene@example.org', 'zoe@example.org']);
      expect(sink.messages.find((m) => m.to[0] === 'helene@example.org')?.raw.toString('latin1')).toContain(
        'Bonjour H',
      );

      const listed = await runFacteur(['campaign', 'list', '--json'], env);
      const [first] = JSON.parse(listed.stdout) as Array<{ status: string; total: number }>;
      expect(first).toMatchObject({ status: 'finished', total: 2 });
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  }, 60_000);
});
