import { describe, expect, it } from 'vitest';
import { sendgridSigner } from '../../../test/support/providers.js';
import { parseBootConfig } from '../../core/config/index.js';
import { bareMessageId, checkSignedTimestamp, cleanText, instantOf } from './model.js';
import { TokenMemory } from './replay.js';

/** The shared reading helpers, the replay memory, and the feedback boot variables. */

describe('checkSignedTimestamp', () => {
  const now = 1_710_433_234_000;
  it('takes a timestamp within the window either way, and tells stale from malformed', () => {
    expect(checkSignedTimestamp('1710433234', now, 60_000)).toBe('ok');
    expect(checkSignedTimestamp(1710433234 - 59, now, 60_000)).toBe('ok');
    expect(checkSignedTimestamp('1710433174', now, 60_000)).toBe('ok');
    expect(checkSignedTimestamp('1710433173', now, 60_000)).toBe('stale');
    expect(checkSignedTimestamp(String(1710433234 + 61), now, 60_000)).toBe('stale');
    for (const bad of ['', 'yesterday', '-1', '1e9', undefined, null, '12345678901234'])
      expect(checkSignedTimestamp(bad, now, 60_000), String(bad)).toBe('malformed');
  });
});

describe('text from providers', () => {
  it('cleans, trims and bounds text, and reads instants and Message-IDs', () => {
    expect(cleanText('  a\u0000b\ud800  ')).toBe('a\uFFFDb\uFFFD');
    expect(cleanText('x'.repeat(2000))?.length).toBe(1000);
    expect(cleanText('   ')).toBeUndefined();
    expect(cleanText(12)).toBeUndefined();
    expect(bareMessageId('<abc@example.fr>')).toBe('abc@example.fr');
    expect(bareMessageId('abc@example.fr')).toBe('abc@example.fr');
    expect(bareMessageId('<>')).toBeUndefined();
    expect(instantOf(1710433234.5)).toBe(1710433234500);
    expect(instantOf('1710433234')).toBe(1710433234000);
    expect(instantOf('2024-03-14T16:33:54Z')).toBe(Date.parse('2024-03-14T16:33:54Z'));
    expect(instantOf('soon')).toBeUndefined();
  });
});

describe('TokenMemory', () => {
  it('takes a token once until it is forgotten or given back', () => {
    const tokens = new TokenMemory();
    expect(tokens.reserve('t1', 2000, 1000)).toBe(true);
    expect(tokens.reserve('t1', 2000, 1500)).toBe(false);
    tokens.release('t1');
    expect(tokens.reserve('t1', 2000, 1500)).toBe(true);
    expect(tokens.reserve('t2', 2500, 1500)).toBe(true);
    // Past its time the timestamp check refuses it anyway; the memory lets it go.
    expect(tokens.reserve('t3', 5000, 2100)).toBe(true);
    expect(tokens.size).toBe(2);
    expect(tokens.reserve('t1', 5000, 2100)).toBe(true);
  });

  it('forgets the oldest beyond its bound', () => {
    const tokens = new TokenMemory(2);
    tokens.reserve('a', 9000, 1);
    tokens.reserve('b', 9000, 1);
    tokens.reserve('c', 9000, 1);
    expect(tokens.size).toBe(2);
    expect(tokens.reserve('a', 9000, 2)).toBe(true);
    expect(tokens.reserve('c', 9000, 2)).toBe(false);
  });
});

describe('the feedback boot variables', () => {
  const base = { FACTEUR_DATA_DIR: '/tmp/facteur-feedback-test' };

  it('are all unset by default: every provider answers 404', () => {
    const parsed = parseBootConfig(base);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    expect(parsed.config.feedback).toEqual({
      postmark: undefined,
      sendgrid: undefined,
      mailgun: undefined,
      ses: undefined,
      snsHosts: null,
      maxAgeMs: 900_000,
    });
  });

  it('read each provider', () => {
    const parsed = parseBootConfig({
      ...base,
      FACTEUR_FEEDBACK_POSTMARK_AUTH: 'postmark:s3cret-pass:word',
      FACTEUR_FEEDBACK_SENDGRID_KEY: sendgridSigner().publicKey,
      FACTEUR_FEEDBACK_MAILGUN_KEY: 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0',
      FACTEUR_FEEDBACK_SES_TOPICS:
        'arn:aws:sns:eu-west-1:123456789012:ses-bounces, arn:aws:sns:eu-west-1:123456789012:ses-complaints',
      FACTEUR_FEEDBACK_SNS_HOSTS: '127.0.0.1:8443',
      FACTEUR_FEEDBACK_MAX_AGE: '5m',
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const { feedback } = parsed.config;
    expect(feedback.postmark).toEqual({ user: 'postmark', password: 's3cret-pass:word' });
    expect(feedback.sendgrid?.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(feedback.ses?.topicArns).toHaveLength(2);
    expect(feedback.snsHosts).toEqual(['127.0.0.1:8443']);
    expect(feedback.maxAgeMs).toBe(300_000);
  });

  it('report bad values without echoing the secrets', () => {
    const parsed = parseBootConfig({
      ...base,
      FACTEUR_FEEDBACK_POSTMARK_AUTH: 'postmark:short',
      FACTEUR_FEEDBACK_SENDGRID_KEY: 'MFkwEwYH-not-a-key',
      FACTEUR_FEEDBACK_MAILGUN_KEY: 'tiny',
      FACTEUR_FEEDBACK_SES_TOPICS: 'arn:aws:s3:::bucket',
      FACTEUR_FEEDBACK_SNS_HOSTS: 'https://sns.example/',
      FACTEUR_FEEDBACK_MAX_AGE: '2d',
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const text = JSON.stringify(parsed.problems);
    expect(parsed.problems.map((p) => p.variable)).toEqual([
      'FACTEUR_FEEDBACK_POSTMARK_AUTH',
      'FACTEUR_FEEDBACK_SENDGRID_KEY',
      'FACTEUR_FEEDBACK_MAILGUN_KEY',
      'FACTEUR_FEEDBACK_SES_TOPICS',
      'FACTEUR_FEEDBACK_SNS_HOSTS',
      'FACTEUR_FEEDBACK_MAX_AGE',
    ]);
    expect(text).toContain('postmark:***');
    expect(text).not.toContain('short');
    expect(text).not.toContain('tiny');
    expect(text).not.toContain('not-a-key');
  });
});
