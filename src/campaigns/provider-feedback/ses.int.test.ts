import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FeedbackApp,
  type SnsStandIn,
  sesEvent,
  startFeedbackApp,
  startSnsStandIn,
} from '../../../test/support/providers.js';
import { ManualClock } from '../../core/clock.js';

/**
 * SES bounces through SNS over real HTTPS: an SNS stand-in on loopback serves an RSA signing
 * certificate (self-signed, made with openssl) and a subscribe URL. Signed notifications of the
 * configured topic are applied (both signature versions, the certificate fetched once); a
 * tampered message, another topic, or a certificate URL on a host that is not SNS's is refused
 * and nothing is applied (nor fetched); a subscription is confirmed by GETting its SubscribeURL.
 */

describe('the SES feedback route (SNS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-sns-'));
  let clock: ManualClock;
  let sns: SnsStandIn;
  let app: FeedbackApp;
  beforeAll(async () => {
    sns = await startSnsStandIn(dir);
    // The certificate was just made: its validity starts now.
    clock = new ManualClock(Date.now());
    app = await startFeedbackApp(
      { ses: { topicArns: [sns.topicArn] }, snsHosts: [sns.host] },
      { clock, snsCa: sns.ca },
    );
  });
  afterAll(async () => {
    await app?.close();
    await sns?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // SNS posts its JSON as text/plain.
  const post = (message: unknown) =>
    app.post('ses', message, { 'content-type': 'text/plain; charset=UTF-8' });
  const appliedCount = () => app.applied.flat().length;
  const headerId = '<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>';

  it('applies a signed bounce notification, with both signature versions, fetching the certificate once', async () => {
    const first = await post(
      sns.notification(sesEvent('Bounce', ['jean@example.fr'], { messageIdHeader: headerId })),
    );
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ provider: 'ses', received: 1, feedback: 1, applied: 1 });
    expect(app.applied.flat().at(-1)).toMatchObject({
      kind: 'hard_bounce',
      address: 'jean@example.fr',
      messageIdHeader: '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
      providerMessageId: '0100018e3e5f1c2a-1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e-000000',
      source: 'ses',
    });
    const second = await post(
      sns.notification(sesEvent('Complaint', ['paul@example.fr']), {
        version: '2',
        subject: 'Amazon SES Email Event Notification',
      }),
    );
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(app.applied.flat().at(-1)).toMatchObject({ kind: 'complaint', address: 'paul@example.fr' });
    expect(sns.certFetches).toBe(1);
  });

  it('takes a notification that is not feedback, and one it cannot read, without applying anything', async () => {
    const before = appliedCount();
    const delivery = await post(sns.notification(sesEvent('Delivery', ['jean@example.fr'])));
    expect(delivery.body).toMatchObject({ ignored: 1, feedback: 0 });
    const unreadable = await post(sns.notification('not an SES event'));
    expect(unreadable.status).toBe(200);
    expect(unreadable.body).toMatchObject({ unreadable: 1, problems: [{ index: 0 }] });
    expect(appliedCount()).toBe(before);
  });

  it('refuses a tampered message, another topic and a bad signature; applies nothing', async () => {
    const before = appliedCount();
    const good = sns.notification(sesEvent('Bounce', ['jean@example.fr']));
    const tampered = { ...good, Message: good.Message?.replace('jean@example.fr', 'victim@example.fr') };
    const foreign = sns.notification(sesEvent('Bounce', ['jean@example.fr']), {
      topicArn: 'arn:aws:sns:eu-west-1:999999999999:not-ours',
    });
    const unsigned = { ...good, Signature: undefined };
    for (const message of [tampered, foreign, unsigned, { ...good, SignatureVersion: '3' }]) {
      const answer = await post(message);
      expect(answer.status, JSON.stringify(answer.body)).toBe(401);
      expect(answer.body.error?.code).toBe('FEEDBACK_SIGNATURE_INVALID');
    }
    expect(appliedCount()).toBe(before);
  });

  it('never fetches a certificate from a host that is not an SNS host', async () => {
    const fetchesBefore = sns.certFetches;
    for (const certUrl of [
      'https://evil.example/SimpleNotificationService-test.pem',
      `http://${sns.host}/SimpleNotificationService-test.pem`,
      'https://127.0.0.1:1/SimpleNotificationService-test.pem',
    ]) {
      const answer = await post(sns.notification(sesEvent('Bounce', ['jean@example.fr']), { certUrl }));
      expect(answer.status).toBe(401);
      expect(answer.body.error?.message).toMatch(/SigningCertURL .*nothing was fetched/);
    }
    expect(sns.certFetches).toBe(fetchesBefore);
  });

  it('confirms a subscription by GETting its SubscribeURL, and says so when it cannot', async () => {
    const confirmation = sns.subscriptionConfirmation();
    const answer = await post(confirmation);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ subscription: 'confirmed', feedback: 0 });
    expect(sns.confirmed).toEqual([confirmation.Token]);

    sns.failConfirmations = true;
    const failed = await post(sns.subscriptionConfirmation());
    sns.failConfirmations = false;
    expect(failed.status).toBe(502);
    expect(failed.body.error?.code).toBe('FEEDBACK_SNS_UNREACHABLE');
    const logged = app.logLines.find(
      (l) => l.includes('"feedback.sns_subscription"') && l.includes('"failed"'),
    );
    expect(logged).toContain('subscribeUrl');
  });

  it('refuses a SubscribeURL on another host, and a confirmation for another topic, without fetching it', async () => {
    const confirmedBefore = sns.confirmed.length;
    const foreign = await post(
      sns.subscriptionConfirmation({ topicArn: 'arn:aws:sns:eu-west-1:999999999999:x' }),
    );
    expect(foreign.status).toBe(401);
    expect(foreign.body.error?.message).toMatch(/not in FACTEUR_FEEDBACK_SES_TOPICS/);
    const elsewhere = await post(
      sns.subscriptionConfirmation({
        subscribeUrl: 'https://127.0.0.1:1/?Action=ConfirmSubscription&Token=x',
      }),
    );
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.error?.message).toMatch(/SubscribeURL .*nothing was fetched/);
    expect(sns.confirmed).toHaveLength(confirmedBefore);
  });

  it('answers 502 when the certificate cannot be fetched, so SNS sends the message again', async () => {
    const gone = await startFeedbackApp(
      { ses: { topicArns: [sns.topicArn] }, snsHosts: ['127.0.0.1:9'] },
      { clock, snsCa: sns.ca },
    );
    try {
      const answer = await gone.post(
        'ses',
        sns.notification(sesEvent('Bounce', ['jean@example.fr']), {
          certUrl: 'https://127.0.0.1:9/SimpleNotificationService-test.pem',
        }),
      );
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('FEEDBACK_SNS_UNREACHABLE');
      expect(gone.applied).toEqual([]);
    } finally {
      await gone.close();
    }
  });

  it('refuses a certificate that is not valid on the clock', async () => {
    const later = new ManualClock(Date.now() + 400 * 86_400_000);
    const future = await startFeedbackApp(
      { ses: { topicArns: [sns.topicArn] }, snsHosts: [sns.host] },
      { clock: later, snsCa: sns.ca },
    );
    try {
      const answer = await future.post('ses', sns.notification(sesEvent('Bounce', ['jean@example.fr'])));
      expect(answer.status).toBe(401);
      expect(answer.body.error?.message).toMatch(/not valid now/);
    } finally {
      await future.close();
    }
  });
});
