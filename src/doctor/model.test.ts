import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import {
  type CertificateFacts,
  certificateHint,
  certificateProblems,
  connectHint,
  enhancedCode,
  formatStage,
  greetingTimeoutHint,
  isGoogleHost,
  rcptHint,
  smtpAuthFailure,
  timeoutWarnings,
  webhookAnswerHint,
} from './model.js';
import { StageError, StageRunner } from './runner.js';

const NOW = Date.UTC(2026, 0, 5, 9);

function cert(overrides: Partial<CertificateFacts> = {}): CertificateFacts {
  return {
    subject: 'CN=mail.example.com',
    names: ['mail.example.com'],
    issuer: 'CN=Some CA',
    validFrom: '2025-06-01T00:00:00.000Z',
    validTo: '2026-06-01T00:00:00.000Z',
    authorizationError: null,
    identityError: null,
    selfSigned: false,
    ...overrides,
  };
}

describe('doctor hints', () => {
  it('tells Gmail users to use an app password on 535, others to check user and password', () => {
    expect(isGoogleHost('smtp.gmail.com')).toBe(true);
    expect(isGoogleHost('smtp-relay.gmail.com')).toBe(true);
    expect(isGoogleHost('aspmx.l.google.com')).toBe(true);
    expect(isGoogleHost('notgmail.com.example.org')).toBe(false);
    const gmail = smtpAuthFailure(535, '5.7.8 Username and Password not accepted', 'smtp.gmail.com');
    expect(gmail.errorCode).toBe('SMTP_AUTH');
    expect(gmail.hint).toMatch(/app password/);
    expect(gmail.hint).toMatch(/2-step verification/);
    const other = smtpAuthFailure(535, '5.7.8 Authentication failed', 'mail.example.com');
    expect(other.hint).toMatch(/wrong user or password/);
    expect(other.hint).not.toMatch(/app password/);
    expect(
      smtpAuthFailure(534, '5.7.9 Application-specific password required', 'mx.example.com').hint,
    ).toMatch(/app password/);
    expect(smtpAuthFailure(454, '4.7.0 Temporary failure', 'mail.example.com').errorCode).toBe(
      'SMTP_TRANSIENT',
    );
  });

  it('names relay refusals at RCPT and says what to do with or without a login', () => {
    expect(enhancedCode('5.7.1 Relaying denied')).toBe('5.7.1');
    expect(rcptHint(550, '5.7.1 Relaying denied', false)).toMatch(
      /relay refused.*unauthenticated.*user:password/,
    );
    expect(rcptHint(554, '5.7.1 <x@y>: Relay access denied', true)).toMatch(
      /relay refused.*allowed From|may send as/,
    );
    expect(rcptHint(550, '5.1.1 No such user', true)).toMatch(/does not exist/);
    expect(rcptHint(451, '4.7.1 Greylisted', true)).toMatch(/temporary/);
  });

  it('explains refused, silent and blocked connections, naming the cloud port blocks', () => {
    expect(connectHint('ECONNREFUSED', 'smtp', 2525)).toMatch(/nothing listens on port 2525/);
    expect(connectHint('TIMEOUT', 'smtp', 25)).toMatch(/port 25.*blocked.*465.*API transport/);
    expect(connectHint('ETIMEDOUT', 'smtp', 587)).toMatch(/587/);
    expect(connectHint('TIMEOUT', 'webhook', 443)).toMatch(/firewall/);
    expect(greetingTimeoutHint(false, 465)).toMatch(/smtps:\/\//);
    expect(greetingTimeoutHint(false, 587)).toMatch(/TLS first|proxy/);
  });

  it('describes self-signed, expired and wrong-name certificates, naming the names', () => {
    expect(certificateProblems(cert(), 'mail.example.com', NOW)).toEqual([]);
    const selfSigned = certificateProblems(
      cert({ authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT', selfSigned: true }),
      'mail.example.com',
      NOW,
    );
    expect(selfSigned.map((p) => p.kind)).toEqual(['self-signed']);
    expect(certificateHint(selfSigned, 'smtp', true)).toMatch(
      /public authority.*tls_verify=false.*test relay/,
    );
    expect(certificateHint(selfSigned, 'smtp', false)).toMatch(/accepted only because `tls_verify=false`/);
    const expired = certificateProblems(
      cert({ validTo: '2025-12-31T00:00:00.000Z', authorizationError: 'CERT_HAS_EXPIRED' }),
      'mail.example.com',
      NOW,
    );
    expect(expired.map((p) => p.kind)).toEqual(['expired']);
    expect(expired[0]?.message).toContain('2025-12-31');
    const wrong = certificateProblems(
      cert({ identityError: "Hostname/IP does not match certificate's altnames" }),
      'smtp.other.org',
      NOW,
    );
    expect(wrong[0]?.message).toBe('the certificate is for mail.example.com, not for smtp.other.org');
  });

  it('warns when a measured stage takes over half of its configured timeout, or the timeout is far too long', () => {
    const warnings = timeoutWarnings([
      { variable: 'FACTEUR_SMTP_GREETING_TIMEOUT', configuredMs: 10_000, measuredMs: 6000 },
      { variable: 'FACTEUR_SMTP_CONNECT_TIMEOUT', configuredMs: 10_000, measuredMs: 4000 },
      { variable: 'FACTEUR_SMTP_SEND_TIMEOUT', configuredMs: 600_000, measuredMs: 200 },
    ]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/FACTEUR_SMTP_GREETING_TIMEOUT is 10 s and this run took 6 s/);
    expect(warnings[1]).toMatch(/FACTEUR_SMTP_SEND_TIMEOUT is 600 s.*hanging server/);
  });

  it('points 4xx answers at the receiver signature check and 5xx at its logs', () => {
    expect(webhookAnswerHint(401, 'WEBHOOK_REJECTED')).toMatch(/signature/);
    expect(webhookAnswerHint(500, 'WEBHOOK_SERVER_ERROR')).toMatch(/its own logs/);
    expect(webhookAnswerHint(null, 'WEBHOOK_TIMEOUT')).toMatch(/timeout/);
  });

  it('prints a stage on one line with its facts, the hint indented below', () => {
    const lines = formatStage({
      stage: 'tcp',
      outcome: 'failed',
      ms: 12,
      detail: { connections: ['127.0.0.1:25 ECONNREFUSED in 1 ms'] },
      errorCode: 'SMTP_CONNECT',
      message: 'cannot connect',
      hint: 'nothing listens',
    });
    expect(lines).toEqual([
      '✗ tcp 12 ms  connections=127.0.0.1:25 ECONNREFUSED in 1 ms',
      '    [SMTP_CONNECT] cannot connect',
      '    hint: nothing listens',
    ]);
  });
});

describe('stage runner', () => {
  it('ends a hanging stage at its timeout, saying so, and skips the stages after it', async () => {
    const clock = new ManualClock(NOW);
    const seen: string[] = [];
    const runner = new StageRunner(clock, (s) => seen.push(`${s.stage}:${s.outcome}`));
    await runner.stage(
      'dns',
      { timeoutMs: 1000, timeoutCode: 'SMTP_CONNECT', timeoutWhat: 'no answer' },
      async () => ({
        detail: { A: ['192.0.2.1'] },
      }),
    );
    let aborted = false;
    const hanging = runner.stage(
      'greeting',
      {
        timeoutMs: 10_000,
        timeoutCode: 'SMTP_TIMEOUT',
        timeoutWhat: 'no greeting',
        timeoutHint: 'wrong protocol?',
      },
      (signal) =>
        new Promise<never>(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
    );
    clock.advance(10_000);
    await hanging;
    const ran = await runner.stage(
      'ehlo',
      { timeoutMs: 1000, timeoutCode: 'SMTP_TIMEOUT', timeoutWhat: 'x' },
      async () => {
        throw new Error('must not run');
      },
    );
    expect(ran).toBeUndefined();
    expect(aborted).toBe(true);
    expect(seen).toEqual(['dns:ok', 'greeting:failed', 'ehlo:skipped']);
    expect(runner.stages[1]).toMatchObject({
      errorCode: 'SMTP_TIMEOUT',
      message: 'no greeting within 10 s',
      hint: 'wrong protocol?',
      ms: 10_000,
    });
    expect(runner.stages[2]?.message).toBe('skipped: the greeting stage failed');
  });

  it('records a StageError with its code, hint and facts', async () => {
    const runner = new StageRunner(new ManualClock(NOW));
    await runner.stage(
      'auth',
      { timeoutMs: 1000, timeoutCode: 'SMTP_TIMEOUT', timeoutWhat: 'x' },
      async () => {
        throw new StageError('SMTP_AUTH', 'refused', 'app password', { user: 'ada' });
      },
    );
    expect(runner.ok).toBe(false);
    expect(runner.stages[0]).toMatchObject({
      outcome: 'failed',
      errorCode: 'SMTP_AUTH',
      hint: 'app password',
      detail: { user: 'ada' },
    });
  });
});
