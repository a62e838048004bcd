import { describe, expect, it } from 'vitest';
import { normaliseEndpointUrl } from './endpoint-url.js';

const TOKEN = 'k3v9x2m8q1w7e5r4t6y0u2i8o4p6a1s3';

function problemOf(input: string): string {
  const result = normaliseEndpointUrl(input);
  if (!('problem' in result)) throw new Error(`expected a problem for ${input}, got ${result.url}`);
  return result.problem;
}

describe('normaliseEndpointUrl: Make.com shorthands', () => {
  it('turns a bare token into the eu2 hook URL', () => {
    expect(normaliseEndpointUrl(TOKEN)).toEqual({ url: `https://hook.eu2.make.com/${TOKEN}` });
    expect(normaliseEndpointUrl(`  ${TOKEN}\n`)).toEqual({ url: `https://hook.eu2.make.com/${TOKEN}` });
    expect(normaliseEndpointUrl('Ab_cd-EF0123456789xy')).toEqual({
      url: 'https://hook.eu2.make.com/Ab_cd-EF0123456789xy',
    });
  });

  it('turns token@hook.<region>.make.com into that region’s hook URL', () => {
    expect(normaliseEndpointUrl(`${TOKEN}@hook.eu2.make.com`)).toEqual({
      url: `https://hook.eu2.make.com/${TOKEN}`,
    });
    expect(normaliseEndpointUrl(`${TOKEN}@hook.us1.make.com`)).toEqual({
      url: `https://hook.us1.make.com/${TOKEN}`,
    });
    expect(normaliseEndpointUrl(`${TOKEN}@Hook.EU1.Make.com`)).toEqual({
      url: `https://hook.eu1.make.com/${TOKEN}`,
    });
  });

  it('keeps a full Make.com URL as given', () => {
    expect(normaliseEndpointUrl(`https://hook.eu2.make.com/${TOKEN}`)).toEqual({
      url: `https://hook.eu2.make.com/${TOKEN}`,
    });
  });

  it('does not take short words or other hosts for tokens', () => {
    expect(problemOf('abc123')).toMatch(/does not start with http/);
    expect(problemOf(`${TOKEN}@hook.eu2.make.com.evil.example`)).toMatch(/does not start with http/);
    expect(problemOf(`${TOKEN}@example.com`)).toMatch(/does not start with http/);
  });
});

describe('normaliseEndpointUrl: http(s) URLs', () => {
  it.each([
    ['https://example.com/webhooks', 'https://example.com/webhooks'],
    ['  https://example.com/hook?x=1&y=2  ', 'https://example.com/hook?x=1&y=2'],
    ['HTTPS://EXAMPLE.com', 'https://example.com/'],
    ['http://example.com:80/a', 'http://example.com/a'],
    ['https://example.com:8443/a', 'https://example.com:8443/a'],
    ['https://bücher.example/hook', 'https://xn--bcher-kva.example/hook'],
    ['http://[2001:db8::1]:8080/x', 'http://[2001:db8::1]:8080/x'],
    ['https://@example.com/', 'https://example.com/'],
  ])('accepts %j as %j', (input, url) => {
    expect(normaliseEndpointUrl(input)).toEqual({ url });
  });

  it('refuses credentials, pointing to the headers', () => {
    expect(problemOf('https://user:secret@example.com/hook')).toMatch(
      /without user name or password; put credentials in the endpoint's headers/,
    );
    expect(problemOf('https://user@example.com/hook')).toMatch(/without user name or password/);
  });

  it('refuses a fragment, even an empty one', () => {
    expect(problemOf('https://example.com/hook#part')).toMatch(/without a #fragment/);
    expect(problemOf('https://example.com/hook#')).toMatch(/without a #fragment/);
  });

  it.each([
    ['', /none was given/],
    ['   ', /none was given/],
    ['example.com/hook', /does not start with http/],
    ['ftp://example.com/hook', /does not start with http/],
    ['javascript:alert(1)', /does not start with http/],
    ['https:example.com', /does not start with http/],
    ['https:/example.com', /does not start with http/],
    ['localhost:8080/hook', /does not start with http/],
    ['https://exa mple.com/', /spaces or control characters/],
    ['https://example.com/a b', /spaces or control characters/],
    ['https://exa\tmple.com/', /spaces or control characters/],
    ['https://exa\nmple.com/', /spaces or control characters/],
    ['https://', /cannot be parsed/],
    ['https://exa<mple.com/', /cannot be parsed/],
    ['http://[::1/', /cannot be parsed/],
  ])('refuses %j', (input, reason) => {
    const problem = problemOf(input);
    expect(problem).toMatch(reason);
    expect(problem).toMatch(/^an endpoint URL must be an absolute http:\/\/ or https:\/\/ URL/);
  });

  it('refuses URLs longer than 2048 characters', () => {
    const base = 'https://example.com/';
    expect(normaliseEndpointUrl(base + 'a'.repeat(2048 - base.length))).toEqual({
      url: base + 'a'.repeat(2048 - base.length),
    });
    expect(problemOf(base + 'a'.repeat(2049 - base.length))).toMatch(
      /at most 2048 characters; this one has 2049/,
    );
    // Within the limit as typed, beyond it once percent-encoded.
    expect(problemOf(base + 'é'.repeat(1000))).toMatch(/at most 2048 characters once normalised/);
  });
});
