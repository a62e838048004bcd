import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBootConfig, parseBootConfig, readEnvironment } from './index.js';
import { parseDuration, parseDurationList, parseSize } from './parsers.js';
import { parseSmtpUrl } from './smtp-url.js';

describe('parseBootConfig', () => {
  it('gives the documented defaults on an empty environment', () => {
    const result = parseBootConfig({}, { cwd: '/srv/facteur' });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const { config } = result;
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dataDir: '/srv/facteur/data',
      database: { kind: 'sqlite', path: '/srv/facteur/data/facteur.db', synchronous: 'full' },
      log: { level: 'info', format: 'json' },
      catcher: { port: 1025, retain: 1000 },
      smtp: {
        server: undefined,
        poolSize: 5,
        connectTimeoutMs: 10_000,
        greetingTimeoutMs: 10_000,
        socketTimeoutMs: 30_000,
        sendTimeoutMs: 60_000,
      },
      mail: { defaultFrom: 'Facteur <facteur@localhost>', sendConcurrency: 10 },
      jobs: { leaseMs: 15_000, pollIntervalMs: 1000, shutdownTimeoutMs: 20_000 },
      http: { bodyLimitBytes: 5 * 1024 * 1024 },
    });
    expect(config.mail.retryScheduleMs).toHaveLength(8);
    expect(Object.isFrozen(config.smtp)).toBe(true);
  });

  it('reports every invalid variable at once, each with the expected form', () => {
    const result = parseBootConfig({
      FACTEUR_PORT: '99999',
      FACTEUR_DATABASE_URL: 'mysql://x',
      FACTEUR_LOG_LEVEL: 'chatty',
      FACTEUR_SMTP_CONNECT_TIMEOUT: '10',
      FACTEUR_SECRET_KEY: 'short',
      FACTEUR_SEND_RETRY_SCHEDULE: '10s,soon',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byName = Object.fromEntries(result.problems.map((p) => [p.variable, p.message]));
    expect(Object.keys(byName).sort()).toEqual(
      [
        'FACTEUR_DATABASE_URL',
        'FACTEUR_LOG_LEVEL',
        'FACTEUR_PORT',
        'FACTEUR_SECRET_KEY',
        'FACTEUR_SEND_RETRY_SCHEDULE',
        'FACTEUR_SMTP_CONNECT_TIMEOUT',
      ].sort(),
    );
    expect(byName.FACTEUR_PORT).toMatch(/^expected a TCP port number from 0 to 65535.*\(got "99999"\)$/);
    expect(byName.FACTEUR_SMTP_CONNECT_TIMEOUT).toMatch(/expected a duration with a unit, like 500ms/);
    expect(byName.FACTEUR_SEND_RETRY_SCHEDULE).toMatch(/item 2 \("soon"\) is not a duration/);
    expect(byName.FACTEUR_SECRET_KEY).toMatch(/got "5 characters"/); // never echoes the secret
  });

  it('never echoes a password from a URL in an error', () => {
    const result = parseBootConfig({ FACTEUR_DATABASE_URL: 'mysql://admin:s3cret@db/x' });
    expect(JSON.stringify(result)).not.toContain('s3cret');
  });

  it('warns about unknown FACTEUR_ variables with a suggestion', () => {
    const result = parseBootConfig({ FACTEUR_SMTP_ULR: 'smtp://x' });
    expect(result.warnings).toEqual([
      {
        variable: 'FACTEUR_SMTP_ULR',
        message: 'unknown variable; it has no effect (did you mean FACTEUR_SMTP_URL?)',
      },
    ]);
  });

  it('reads sqlite and postgres URLs', () => {
    const sqlite = parseBootConfig(
      { FACTEUR_DATABASE_URL: 'sqlite:var/f.db', FACTEUR_SQLITE_SYNCHRONOUS: 'normal' },
      { cwd: '/app' },
    );
    expect(sqlite.ok && sqlite.config.database).toEqual({
      kind: 'sqlite',
      path: '/app/var/f.db',
      synchronous: 'normal',
    });
    const absolute = parseBootConfig({ FACTEUR_DATABASE_URL: 'sqlite:///data/f.db' });
    expect(absolute.ok && absolute.config.database).toMatchObject({ path: '/data/f.db' });
    const pg = parseBootConfig({ FACTEUR_DATABASE_URL: 'postgres://u:p@db:5432/facteur' });
    expect(pg.ok && pg.config.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/facteur' });
    const memory = parseBootConfig({ FACTEUR_DATABASE_URL: 'sqlite::memory:' });
    expect(!memory.ok && memory.problems[0]?.message).toMatch(/would lose accepted work/);
  });

  it('throws CONFIG_INVALID with every problem in details', () => {
    expect(() => loadBootConfig({ FACTEUR_PORT: 'x', FACTEUR_HOST: 'a b' })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: expect.arrayContaining([expect.objectContaining({ variable: 'FACTEUR_HOST' })]),
      }),
    );
  });
});

describe('readEnvironment', () => {
  it('reads .env under the process environment, which wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-env-'));
    writeFileSync(join(dir, '.env'), 'FACTEUR_PORT=9000\nFACTEUR_HOST=0.0.0.0\n');
    expect(readEnvironment(dir, { FACTEUR_PORT: '9100' })).toMatchObject({
      FACTEUR_PORT: '9100',
      FACTEUR_HOST: '0.0.0.0',
    });
  });
});

describe('value parsers', () => {
  it('parse durations, lists and sizes with units only', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(() => parseDuration('30')).toThrow(/with a unit/);
    expect(parseDurationList('10s, 1m,5m')).toEqual([10_000, 60_000, 300_000]);
    expect(parseSize('512kb')).toBe(524_288);
    expect(parseSize('5MB')).toBe(5_242_880);
    expect(() => parseSize('5')).toThrow(/with a unit/);
  });

  it('parse SMTP URLs, decoding credentials', () => {
    expect(parseSmtpUrl('smtp://me%40example.com:p%40ss@smtp.example.com:587?starttls=required')).toEqual({
      host: 'smtp.example.com',
      port: 587,
      secure: false,
      requireTls: true,
      ignoreTls: false,
      tlsVerify: true,
      user: 'me@example.com',
      password: 'p@ss',
    });
    expect(parseSmtpUrl('smtps://relay.example.com')).toMatchObject({
      port: 465,
      secure: true,
      requireTls: false,
    });
    expect(parseSmtpUrl('smtp://127.0.0.1:2525?starttls=off&tls_verify=false')).toMatchObject({
      ignoreTls: true,
      tlsVerify: false,
      user: undefined,
    });
    expect(() => parseSmtpUrl('smtp://x?retries=3')).toThrow(/unknown parameter "retries"/);
    expect(() => parseSmtpUrl('https://x')).toThrow(/got the scheme "https"/);
  });
});
