import { describe, expect, it } from 'vitest';
import { amzDate, signingKey, signRequest } from './sigv4.js';

/** The credentials of the AWS SigV4 test suite and documentation examples. */
const AWS_EXAMPLE = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

describe('signRequest (AWS Signature Version 4)', () => {
  it('matches the test suite vector get-vanilla', () => {
    const signature = signRequest({
      ...AWS_EXAMPLE,
      method: 'GET',
      path: '/',
      headers: { Host: 'example.amazonaws.com', 'X-Amz-Date': '20150830T123600Z' },
      body: '',
      region: 'us-east-1',
      service: 'service',
      amzDate: '20150830T123600Z',
    });
    expect(signature.canonicalRequest).toBe(
      [
        'GET',
        '/',
        '',
        'host:example.amazonaws.com',
        'x-amz-date:20150830T123600Z',
        '',
        'host;x-amz-date',
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      ].join('\n'),
    );
    expect(signature.stringToSign).toBe(
      [
        'AWS4-HMAC-SHA256',
        '20150830T123600Z',
        '20150830/us-east-1/service/aws4_request',
        'bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
      ].join('\n'),
    );
    expect(signature.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('derives the documented signing key (IAM example, 20150830/us-east-1/iam)', () => {
    expect(signingKey(AWS_EXAMPLE.secretAccessKey, '20150830', 'us-east-1', 'iam').toString('hex')).toBe(
      'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9',
    );
  });

  it('sorts the query, trims header values and is deterministic; any change changes the signature', () => {
    const input = {
      ...AWS_EXAMPLE,
      method: 'POST',
      path: '/v2/email/outbound-emails',
      query: 'b=2&a=1',
      headers: {
        host: 'email.eu-west-1.amazonaws.com',
        'x-amz-date': '20240102T030405Z',
        'Content-Type': ' application/json  ',
      },
      body: '{"a":1}',
      region: 'eu-west-1',
      service: 'ses',
      amzDate: '20240102T030405Z',
    };
    const first = signRequest(input);
    expect(signRequest(input)).toEqual(first);
    expect(first.canonicalRequest.split('\n').slice(0, 6)).toEqual([
      'POST',
      '/v2/email/outbound-emails',
      'a=1&b=2',
      'content-type:application/json',
      'host:email.eu-west-1.amazonaws.com',
      'x-amz-date:20240102T030405Z',
    ]);
    expect(first.signedHeaders).toBe('content-type;host;x-amz-date');
    expect(signRequest({ ...input, body: '{"a":2}' }).signature).not.toBe(first.signature);
    expect(signRequest({ ...input, secretAccessKey: 'other' }).signature).not.toBe(first.signature);
  });

  it('formats x-amz-date from a time', () => {
    expect(amzDate(Date.UTC(2015, 7, 30, 12, 36, 0))).toBe('20150830T123600Z');
  });
});
