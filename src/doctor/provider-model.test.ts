import { describe, expect, it } from 'vitest';
import { type ProviderTransportConfig, parseTransportUrl } from '../core/config/transport-url.js';
import {
  hideSecrets,
  providerAuthHint,
  transportFacts,
  transportSecrets,
  verifyRequestLine,
} from './provider-model.js';

/** The provider check's pure part: the request, what may be shown, and the hint per outcome. */

const transport = (url: string) => parseTransportUrl(url) as ProviderTransportConfig;
const postmark = transport('postmark://pm-token@api.postmarkapp.com');
const sendgrid = transport('sendgrid://SG.key@api.sendgrid.com');
const mailgun = transport('mailgun://key-1@api.mailgun.net/mg.example.com');
const ses = transport('ses://AKIAEXAMPLE:se%2Fcret%2Bkey@email.eu-west-1.amazonaws.com');
const failure = (code: string, httpStatus: number | null = null, providerCode: string | null = null) => ({
  code,
  httpStatus,
  providerCode,
});

describe('provider check model', () => {
  it("names each provider's verify request and shows no key", () => {
    expect([postmark, sendgrid, mailgun, ses].map(verifyRequestLine)).toEqual([
      'GET /server',
      'GET /v3/scopes',
      'GET /v3/domains/mg.example.com',
      'GET /v2/email/account',
    ]);
    expect(transportFacts(ses)).toEqual({ provider: 'ses', region: 'eu-west-1', accessKeyId: 'AKIAEXAMPLE' });
    expect(transportFacts(mailgun)).toEqual({ provider: 'mailgun', domain: 'mg.example.com' });
    expect(JSON.stringify([postmark, sendgrid, mailgun].map(transportFacts))).not.toMatch(
      /pm-token|SG\.key|key-1/,
    );
  });

  it('hides every key of a transport, as written and URL-encoded', () => {
    expect(transportSecrets(ses)).toEqual(['se%2Fcret%2Bkey', 'se/cret+key']);
    expect(hideSecrets('signed with se/cret+key (se%2Fcret%2Bkey)', transportSecrets(ses))).toBe(
      'signed with *** (***)',
    );
  });

  it('says what to fix for a refused key, per provider and status', () => {
    expect(providerAuthHint(postmark, failure('PROVIDER_AUTH', 401), 60_000)).toContain('Server API token');
    expect(providerAuthHint(sendgrid, failure('PROVIDER_AUTH', 401), 60_000)).toMatch(
      /wrong, or was deleted/,
    );
    expect(providerAuthHint(sendgrid, failure('PROVIDER_AUTH', 403), 60_000)).toMatch(
      /lacks the permission.*Mail Send/,
    );
    expect(providerAuthHint(mailgun, failure('PROVIDER_AUTH', 401), 60_000)).toMatch(
      /private API key.*api\.eu\.mailgun\.net/,
    );
    expect(providerAuthHint(mailgun, failure('PROVIDER_AUTH', 403), 60_000)).toContain(
      'lacks the permission',
    );
  });

  it('tells an AWS signature error (secret or region) from an unknown key id and a missing permission', () => {
    for (const type of ['SignatureDoesNotMatch', 'InvalidSignatureException', 'IncompleteSignatureException'])
      expect(providerAuthHint(ses, failure('PROVIDER_AUTH', 403, type), 60_000)).toMatch(
        /secret access key is wrong, or the region \(eu-west-1\)/,
      );
    expect(
      providerAuthHint(ses, failure('PROVIDER_AUTH', 403, 'UnrecognizedClientException'), 60_000),
    ).toContain('does not know the access key id');
    expect(providerAuthHint(ses, failure('PROVIDER_AUTH', 403, 'AccessDeniedException'), 60_000)).toContain(
      'ses:GetAccount',
    );
    expect(
      providerAuthHint(ses, failure('PROVIDER_AUTH', 403, 'AccountSuspendedException'), 60_000),
    ).toContain('suspended');
  });

  it('names the Mailgun domain and region on a 404, and the other outcomes', () => {
    expect(providerAuthHint(mailgun, failure('PROVIDER_REJECTED', 404), 60_000)).toBe(
      'the domain mg.example.com is not in this Mailgun account, or the region is wrong: domains of an EU account are reached through api.eu.mailgun.net, US ones through api.mailgun.net',
    );
    expect(providerAuthHint(sendgrid, failure('PROVIDER_TIMEOUT'), 60_000)).toMatch(
      /^the API did not answer within 60 s \(FACTEUR_SMTP_SEND_TIMEOUT\)/,
    );
    expect(providerAuthHint(postmark, failure('PROVIDER_UNAVAILABLE', 503), 60_000)).toContain(
      'failing on its side (HTTP 503)',
    );
    expect(providerAuthHint(postmark, failure('PROVIDER_RATE_LIMITED', 429), 60_000)).toContain('throttling');
    expect(providerAuthHint(postmark, failure('PROVIDER_PROTOCOL', 302), 60_000)).toContain('api_base');
    expect(providerAuthHint(postmark, failure('TARGET_FORBIDDEN'), 60_000)).toContain('https://');
  });
});
