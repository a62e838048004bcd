import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sesEvent } from '../../../test/support/providers.js';
import { readSesMessage } from './ses.js';
import { type SnsMessage, snsBodySchema, snsStringToSign, snsUrlProblem, verifySnsSignature } from './sns.js';

/** SNS's message signatures (both versions), the certificate host rule, and the SES events inside. */

const notification = (overrides: Record<string, unknown> = {}): SnsMessage =>
  snsBodySchema.parse({
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: 'arn:aws:sns:us-west-2:123456789012:MyTopic',
    Subject: 'My First Message',
    Message: 'Hello world!',
    Timestamp: '2012-05-02T00:54:06.655Z',
    SignatureVersion: '1',
    Signature: 'x',
    SigningCertURL:
      'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem',
    UnsubscribeURL:
      'https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0',
    ...overrides,
  });

describe('snsStringToSign', () => {
  it("writes a Notification's fields in the documented order, Subject only when present", () => {
    expect(snsStringToSign(notification())).toBe(
      'Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\nMy First Message\n' +
        'Timestamp\n2012-05-02T00:54:06.655Z\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n',
    );
    expect(snsStringToSign(notification({ Subject: undefined }))).not.toContain('Subject');
  });

  it("writes a SubscriptionConfirmation's SubscribeURL and Token", () => {
    const text = snsStringToSign(
      notification({
        Type: 'SubscriptionConfirmation',
        Subject: undefined,
        SubscribeURL: 'https://s/?a=1',
        Token: 'tok',
      }),
    );
    expect(text).toBe(
      'Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubscribeURL\nhttps://s/?a=1\n' +
        'Timestamp\n2012-05-02T00:54:06.655Z\nToken\ntok\nTopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n' +
        'Type\nSubscriptionConfirmation\n',
    );
  });
});

describe('verifySnsSignature', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signed = (version: '1' | '2', message = notification({ SignatureVersion: version })): SnsMessage => ({
    ...message,
    Signature: sign(
      version === '1' ? 'sha1' : 'sha256',
      Buffer.from(snsStringToSign(message)),
      privateKey,
    ).toString('base64'),
  });

  it.each(['1', '2'] as const)('accepts SignatureVersion %s made with the certificate key', (version) => {
    expect(verifySnsSignature(signed(version), publicKey)).toBe(true);
  });

  it('refuses a changed message, the other digest, another key, an unknown version', () => {
    const good = signed('1');
    expect(verifySnsSignature({ ...good, Message: 'Hello world?' }, publicKey)).toBe(false);
    expect(
      verifySnsSignature({ ...good, TopicArn: 'arn:aws:sns:us-west-2:999999999999:MyTopic' }, publicKey),
    ).toBe(false);
    expect(verifySnsSignature({ ...good, SignatureVersion: '2' }, publicKey)).toBe(false);
    expect(verifySnsSignature({ ...good, SignatureVersion: '3' }, publicKey)).toBe(false);
    expect(verifySnsSignature(good, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)).toBe(
      false,
    );
    expect(verifySnsSignature({ ...good, Signature: '' }, publicKey)).toBe(false);
  });
});

describe('snsUrlProblem', () => {
  it('takes https URLs on sns.<region>.amazonaws.com only, by default', () => {
    expect(
      snsUrlProblem('https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem', null),
    ).toBeUndefined();
    expect(snsUrlProblem('https://sns.cn-north-1.amazonaws.com.cn/x.pem', null)).toBeUndefined();
    for (const url of [
      'http://sns.eu-west-1.amazonaws.com/x.pem',
      'https://sns.eu-west-1.amazonaws.com.evil.example/x.pem',
      'https://evil.example/sns.eu-west-1.amazonaws.com/x.pem',
      'https://sns.eu-west-1.amazonaws.com:8443/x.pem',
      'https://user:pass@sns.eu-west-1.amazonaws.com/x.pem',
      'https://s3.amazonaws.com/x.pem',
      'not a url',
      undefined,
    ])
      expect(snsUrlProblem(url, null), String(url)).toBeDefined();
  });

  it('takes the configured hosts instead when there are some', () => {
    expect(snsUrlProblem('https://127.0.0.1:8443/cert.pem', ['127.0.0.1:8443'])).toBeUndefined();
    expect(snsUrlProblem('https://127.0.0.1:9443/cert.pem', ['127.0.0.1:8443'])).toMatch(
      /FACTEUR_FEEDBACK_SNS_HOSTS/,
    );
    expect(snsUrlProblem('https://sns.eu-west-1.amazonaws.com/x.pem', ['127.0.0.1:8443'])).toBeDefined();
  });
});

describe('readSesMessage', () => {
  const headerId = '<0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr>';

  it('reads a permanent bounce per recipient, with the SES id and the Message-ID header', () => {
    const batch = readSesMessage(
      JSON.stringify(
        sesEvent('Bounce', ['jean@example.fr', 'paul@example.fr'], { messageIdHeader: headerId }),
      ),
    );
    expect(batch).toMatchObject({ received: 2, ignored: 0, unreadable: [] });
    expect(batch.items[0]).toEqual({
      kind: 'hard_bounce',
      address: 'jean@example.fr',
      messageIdHeader: '0190b1a2-7c4e-7000-8000-1a2b3c4d5e6f@facteur.example.fr',
      providerMessageId: '0100018e3e5f1c2a-1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e-000000',
      status: '5.1.1',
      diagnostic: 'smtp; 550 5.1.1 user unknown',
      source: 'ses',
      occurredAt: Date.parse('2024-03-14T16:33:54.000Z'),
    });
    expect(batch.items[1]?.address).toBe('paul@example.fr');
  });

  it('reads transient and undetermined bounces as soft, complaints as complaints', () => {
    const kind = (event: unknown) => readSesMessage(JSON.stringify(event)).items[0]?.kind;
    expect(kind(sesEvent('Bounce', ['a@example.fr'], { bounceType: 'Transient' }))).toBe('soft_bounce');
    expect(kind(sesEvent('Bounce', ['a@example.fr'], { bounceType: 'Undetermined' }))).toBe('soft_bounce');
    const complaint = readSesMessage(JSON.stringify(sesEvent('Complaint', ['a@example.fr'])));
    expect(complaint.items).toMatchObject([{ kind: 'complaint', diagnostic: 'complaint: abuse' }]);
    // Event publishing (configuration sets) says eventType instead of notificationType.
    const published = {
      ...sesEvent('Bounce', ['a@example.fr']),
      notificationType: undefined,
      eventType: 'Bounce',
    };
    expect(kind(published)).toBe('hard_bounce');
  });

  it('keeps the readable recipients of an event and lists the others', () => {
    const event = sesEvent('Bounce', ['jean@example.fr', 'broken', 'paul@example.fr']);
    const batch = readSesMessage(JSON.stringify(event));
    expect(batch.items.map((i) => i.address)).toEqual(['jean@example.fr', 'paul@example.fr']);
    expect(batch.unreadable).toMatchObject([{ index: 1, reason: expect.stringMatching(/^emailAddress /) }]);
  });

  it('ignores events that are not feedback and lists a message it cannot read', () => {
    expect(readSesMessage(JSON.stringify(sesEvent('Delivery', ['a@example.fr'])))).toMatchObject({
      ignored: 1,
      items: [],
    });
    const setup = {
      notificationType: 'AmazonSnsSubscriptionSucceeded',
      message: 'You have successfully subscribed',
    };
    expect(readSesMessage(JSON.stringify(setup)).ignored).toBe(1);
    expect(readSesMessage('Hello world!').unreadable).toEqual([{ index: 0, reason: 'Message is not JSON' }]);
    expect(readSesMessage('{"notificationType":"Bounce","bounce":{}}').unreadable[0]?.reason).toMatch(
      /bouncedRecipients/,
    );
  });
});
