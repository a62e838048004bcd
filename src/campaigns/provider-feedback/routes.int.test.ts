import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeedbackApp,
  mailgunSignature,
  sendgridSigner,
  startFeedbackApp,
} from '../../../test/support/providers.js';
import { ManualClock } from '../../core/clock.js';
import { parseSendgridPublicKey } from '../../core/config/feedback-variables.js';

/**
 * The Postmark, SendGrid and Mailgun webhooks over real HTTP: a request authenticated the
 * provider's way is read and applied; a missing or wrong credential or signature, a tampered
 * body, an old timestamp or a replayed token is refused with 401 and nothing is applied; a
 * provider without configuration answers 404 naming its variable; an API key may post.
 */

const POSTMARK = { user: 'postmark', password: 'bounce-pass-123' };
const MAILGUN_KEY = 'key-3ax6xnjp29jd6fds4gc373sgvjxteol0';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const postmarkBounce = {
  RecordType: 'Bounce',
  MessageStream: 'outbound',
  ID: 42,
  Type: 'HardBounce',
  TypeCode: 1,
  MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  Email: 'jean@example.fr',
  Details: 'smtp;550 5.1.1 no such user',
  BouncedAt: '2026-01-05T08:59:00Z',
};

describe('the Postmark, SendGrid and Mailgun feedback routes', () => {
  const clock = new ManualClock();
  const signer = sendgridSigner();
  let app: FeedbackApp;
  let bare: FeedbackApp;
  beforeAll(async () => {
    app = await startFeedbackApp(
      {
        postmark: POSTMARK,
        sendgrid: { publicKeyPem: parseSendgridPublicKey(signer.publicKey) },
        mailgun: { signingKey: MAILGUN_KEY },
        maxAgeMs: 5 * 60_000,
      },
      { clock },
    );
    bare = await startFeedbackApp({}, { clock });
  });
  afterAll(async () => {
    await app?.close();
    await bare?.close();
  });
  const appliedCount = () => app.applied.flat().length;

  describe('Postmark', () => {
    it('applies a bounce sent with the configured Basic credentials', async () => {
      const before = appliedCount();
      const answer = await app.post('postmark', postmarkBounce, {
        authorization: basic(POSTMARK.user, POSTMARK.password),
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ provider: 'postmark', received: 1, feedback: 1, applied: 1 });
      expect(app.applied.flat().slice(before)).toEqual([
        expect.objectContaining({ kind: 'hard_bounce', address: 'jean@example.fr', source: 'postmark' }),
      ]);
    });

    it('refuses missing or wrong credentials with 401, applying nothing', async () => {
      const before = appliedCount();
      const none = await app.post('postmark', postmarkBounce);
      expect(none.status).toBe(401);
      expect(none.body.error?.code).toBe('FEEDBACK_SIGNATURE_INVALID');
      expect(none.body.error?.message).toMatch(/FACTEUR_FEEDBACK_POSTMARK_AUTH/);
      const wrong = await app.post('postmark', postmarkBounce, {
        authorization: basic('postmark', 'guess-guess'),
      });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error?.code).toBe('FEEDBACK_SIGNATURE_INVALID');
      expect(appliedCount()).toBe(before);
      expect(app.logLines.some((l) => l.includes('"feedback.refused"') && l.includes('"postmark"'))).toBe(
        true,
      );
      expect(app.logLines.join('\n')).not.toContain('guess-guess');
    });

    it('answers 400 naming the field for a bounce without an address, applying nothing', async () => {
      const before = appliedCount();
      const { Email: _email, ...rest } = postmarkBounce;
      const answer = await app.post('postmark', rest, {
        authorization: basic(POSTMARK.user, POSTMARK.password),
      });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'Email' }] });
      expect(appliedCount()).toBe(before);
    });
  });

  describe('SendGrid', () => {
    const events = [
      {
        email: 'anne@example.fr',
        timestamp: 1767603540,
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 no such user',
        sg_message_id: 'W86EgYT6SQKk0lRflfLRsA.filterdrecv-1.0',
      },
      { email: 'paul@example.fr', timestamp: 1767603541, event: 'delivered', response: '250 OK' },
      { email: 'lea@example.fr', timestamp: 1767603542, event: 'spamreport' },
      { event: 'bounce', type: 'bounce' },
    ];
    // SendGrid's own formatting: the signature covers these bytes exactly, not a re-serialisation.
    const body = `[\n  ${events.map((e) => JSON.stringify(e)).join(',\n  ')}\n]`;
    const signed = (text: string, at = Math.floor(clock.now() / 1000)) => ({
      'x-twilio-email-event-webhook-signature': signer.sign(String(at), text),
      'x-twilio-email-event-webhook-timestamp': String(at),
    });

    it('applies the feedback of a signed batch, counting the ignored and unreadable events', async () => {
      const before = appliedCount();
      const answer = await app.post('sendgrid', body, signed(body));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({
        received: 4,
        feedback: 2,
        applied: 2,
        ignored: 1,
        unreadable: 1,
        problems: [{ index: 3, reason: expect.stringMatching(/^email /) }],
      });
      expect(
        app.applied
          .flat()
          .slice(before)
          .map((f) => [f.address, f.kind, f.providerMessageId]),
      ).toEqual([
        ['anne@example.fr', 'hard_bounce', 'W86EgYT6SQKk0lRflfLRsA'],
        ['lea@example.fr', 'complaint', undefined],
      ]);
      expect(app.logLines.some((l) => l.includes('"feedback.unreadable"') && l.includes('"index":3'))).toBe(
        true,
      );
      const metrics = await app.metrics.metrics();
      expect(metrics).toMatch(/facteur_feedback_items_total\{provider="sendgrid",outcome="unreadable"\} 1/);
    });

    it('refuses a tampered body, another key, missing headers and an old timestamp; applies nothing', async () => {
      const before = appliedCount();
      const tampered = body.replace('anne@example.fr', 'anna@example.fr');
      const cases = [
        { text: tampered, headers: signed(body), code: 'FEEDBACK_SIGNATURE_INVALID' },
        {
          text: body,
          headers: {
            ...signed(body),
            'x-twilio-email-event-webhook-signature': sendgridSigner().sign('1', body),
          },
          code: 'FEEDBACK_SIGNATURE_INVALID',
        },
        { text: body, headers: {}, code: 'FEEDBACK_SIGNATURE_INVALID' },
        {
          text: body,
          headers: signed(body, Math.floor(clock.now() / 1000) - 301),
          code: 'FEEDBACK_REPLAYED',
        },
      ];
      for (const c of cases) {
        const answer = await app.post('sendgrid', c.text, c.headers);
        expect(answer.status, JSON.stringify(answer.body)).toBe(401);
        expect(answer.body.error?.code).toBe(c.code);
      }
      expect(appliedCount()).toBe(before);
    });
  });

  describe('Mailgun', () => {
    const failed = (signature: ReturnType<typeof mailgunSignature>, recipient = 'marie@example.fr') => ({
      signature,
      'event-data': {
        event: 'failed',
        severity: 'permanent',
        reason: 'bounce',
        recipient,
        timestamp: clock.now() / 1000,
        'delivery-status': { code: 550, 'enhanced-code': '5.1.1', message: 'No such user' },
        message: { headers: { 'message-id': '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr' } },
      },
    });
    const now = () => Math.floor(clock.now() / 1000);

    it('applies a signed event once, and refuses its replay', async () => {
      const before = appliedCount();
      const body = failed(mailgunSignature(MAILGUN_KEY, now()));
      const first = await app.post('mailgun', body);
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ provider: 'mailgun', feedback: 1, applied: 1 });
      expect(app.applied.flat().slice(before)).toEqual([
        expect.objectContaining({
          kind: 'hard_bounce',
          address: 'marie@example.fr',
          messageIdHeader: '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
          status: '5.1.1',
        }),
      ]);
      const replay = await app.post('mailgun', body);
      expect(replay.status).toBe(401);
      expect(replay.body.error?.code).toBe('FEEDBACK_REPLAYED');
      expect(appliedCount()).toBe(before + 1);
    });

    it('refuses a wrong key, a missing signature and an old timestamp; applies nothing', async () => {
      const before = appliedCount();
      const wrongKey = await app.post('mailgun', failed(mailgunSignature('key-of-someone-else', now())));
      expect(wrongKey.body.error?.code).toBe('FEEDBACK_SIGNATURE_INVALID');
      const { signature: _s, ...unsigned } = failed(mailgunSignature(MAILGUN_KEY, now()));
      const missing = await app.post('mailgun', unsigned);
      expect(missing.status).toBe(401);
      expect(missing.body.error?.code).toBe('FEEDBACK_SIGNATURE_INVALID');
      const old = await app.post('mailgun', failed(mailgunSignature(MAILGUN_KEY, now() - 301)));
      expect(old.status).toBe(401);
      expect(old.body.error?.code).toBe('FEEDBACK_REPLAYED');
      expect(appliedCount()).toBe(before);
    });

    it('gives the token back when the feedback could not be applied, so the retry passes', async () => {
      const body = failed(mailgunSignature(MAILGUN_KEY, now()), 'retry@example.fr');
      app.failApply = true;
      const down = await app.post('mailgun', body);
      app.failApply = false;
      expect(down.status).toBe(503);
      const retry = await app.post('mailgun', body);
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ applied: 1 });
    });

    it('answers 400 naming event-data.recipient for a failure without a recipient', async () => {
      const answer = await app.post('mailgun', failed(mailgunSignature(MAILGUN_KEY, now()), 'nobody'));
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ details: [{ field: 'event-data.recipient' }] });
    });
  });

  describe('any provider', () => {
    it.each(['postmark', 'sendgrid', 'mailgun', 'ses'])(
      'answers 404 naming the variable to set when %s is not configured',
      async (provider) => {
        const answer = await bare.post(provider, provider === 'sendgrid' ? [] : {});
        expect(answer.status).toBe(404);
        expect(answer.body.error?.code).toBe('FEEDBACK_NOT_CONFIGURED');
        expect(answer.body.error?.message).toMatch(/set FACTEUR_FEEDBACK_[A-Z_]+/);
        expect(bare.applied).toEqual([]);
      },
    );

    it("takes the operator's own request with an API key, without the provider's signature", async () => {
      const answer = await bare.post('postmark', postmarkBounce, { authorization: `Bearer ${bare.key}` });
      expect(answer.status).toBe(200);
      expect(bare.applied.flat()).toEqual([expect.objectContaining({ address: 'jean@example.fr' })]);
      const wrong = await bare.post('postmark', postmarkBounce, { authorization: 'Bearer fk_wrong' });
      expect(wrong.body.error?.code).toBe('AUTH_INVALID');
    });

    it('replaces NUL in a diagnostic rather than refusing the batch', async () => {
      const body = { ...postmarkBounce, Details: 'smtp;550 \u0000 gone' };
      const answer = await app.post('postmark', body, {
        authorization: basic(POSTMARK.user, POSTMARK.password),
      });
      expect(answer.status).toBe(200);
      expect(app.applied.flat().at(-1)?.diagnostic).toBe('smtp;550 \uFFFD gone');
    });
  });
});
