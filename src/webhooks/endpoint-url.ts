/**
 * The URL of a webhook endpoint, as users type it. Besides ordinary http(s) URLs, the Make.com
 * shorthands of the system Facteur replaces are kept (REFERENCE.md): a bare webhook token, or
 * `token@hook.<region>.make.com`, both meaning `https://hook.<region>.make.com/<token>`.
 * This checks the form only; whether the host is a public address is the SSRF guard's job.
 */

/** Longest URL accepted: what browsers and most servers reliably handle. */
const MAX_URL_LENGTH = 2048;

/** Make.com's default region, the one the replaced system assumed for a bare token. */
const MAKE_DEFAULT_HOST = 'hook.eu2.make.com';

/** A Make.com webhook token (32 lower-case letters and digits today; the alphabet is kept loose). */
const MAKE_TOKEN = /^[A-Za-z0-9_-]{20,}$/;
const MAKE_TOKEN_AT_HOST = /^([A-Za-z0-9_-]{20,})@(hook\.[A-Za-z0-9-]+\.make\.com)$/i;

/** Inside a URL these are either dropped silently by the URL parser or a paste accident. */
const WHITESPACE_OR_CONTROL = /[\s\p{Cc}]/u;

const EXPECTED =
  'an endpoint URL must be an absolute http:// or https:// URL such as https://example.com/webhooks, ' +
  'or a Make.com webhook token (alone or as token@hook.eu2.make.com)';

/** The canonical URL of an endpoint, or a sentence saying what is wrong and what is expected. */
export function normaliseEndpointUrl(input: string): { url: string } | { problem: string } {
  const text = input.trim();
  if (text.length === 0) return { problem: `${EXPECTED}; none was given.` };
  if (text.length > MAX_URL_LENGTH) {
    return { problem: `${EXPECTED}, of at most ${MAX_URL_LENGTH} characters; this one has ${text.length}.` };
  }
  if (MAKE_TOKEN.test(text)) return { url: `https://${MAKE_DEFAULT_HOST}/${text}` };
  const atHost = MAKE_TOKEN_AT_HOST.exec(text);
  if (atHost) return { url: `https://${atHost[2]!.toLowerCase()}/${atHost[1]}` };
  return checkHttpUrl(text);
}

function checkHttpUrl(text: string): { url: string } | { problem: string } {
  if (WHITESPACE_OR_CONTROL.test(text)) {
    return { problem: `${EXPECTED}; this one contains spaces or control characters (percent-encode them).` };
  }
  // The WHATWG parser also accepts `https:example.com` and `https:/example.com`; asking for the
  // two slashes keeps what is stored the same as what the user meant to write.
  if (!/^https?:\/\//i.test(text)) {
    return { problem: `${EXPECTED}; this one does not start with http:// or https://.` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: `${EXPECTED}; this one cannot be parsed as a URL.` };
  }
  if (url.hostname === '') return { problem: `${EXPECTED}; this one has no host name.` };
  if (url.username !== '' || url.password !== '') {
    // Credentials in the URL end up in logs, in the dashboard and in error messages.
    return {
      problem: `${EXPECTED}, without user name or password; put credentials in the endpoint's headers (e.g. Authorization) instead.`,
    };
  }
  // The serialised form has a '#' exactly when the URL has a fragment, even an empty one;
  // a fragment is never sent to the server, so it can only be a mistake.
  if (url.href.includes('#')) {
    return { problem: `${EXPECTED}, without a #fragment (it is never sent to the receiver).` };
  }
  if (url.href.length > MAX_URL_LENGTH) {
    return { problem: `${EXPECTED}, of at most ${MAX_URL_LENGTH} characters once normalised.` };
  }
  return { url: url.href };
}
