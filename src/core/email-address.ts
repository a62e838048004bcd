/**
 * Email addresses as people write them: `addr@example.com` or `Name <addr@example.com>`.
 * Strict enough that nothing malformed reaches an SMTP server or a header (no line breaks,
 * balanced brackets, a valid local part and domain), lenient on internationalised addresses.
 */

/** A parsed mailbox: optional display name and the address. */
export interface Mailbox {
  name?: string;
  address: string;
}

const LOCAL_PART =
  /^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+)*|"(?:[^"\\\r\n]|\\.)+")$/;
const DOMAIN_LABEL = /^(?!-)[A-Za-z0-9\u0080-\uFFFF-]{1,63}(?<!-)$/;
const IP_LITERAL = /^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$/;

/** Returns why `address` (a bare addr-spec) is invalid, or undefined when it is valid. */
export function addressProblem(address: string): string | undefined {
  if (address.length > 254) return 'is longer than 254 characters';
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'is not an email address (expected local@domain)';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64) return 'has a local part longer than 64 characters';
  if (!LOCAL_PART.test(local)) return 'has an invalid local part (before the @)';
  if (IP_LITERAL.test(domain)) return undefined;
  if (!domain.split('.').every((label) => DOMAIN_LABEL.test(label)))
    return 'has an invalid domain (after the @)';
  return undefined;
}

/** Parses `addr@example.com` or `Name <addr@example.com>` (name optionally quoted). */
export function parseMailbox(input: string): Mailbox | { problem: string } {
  if (/[\r\n]/.test(input)) return { problem: 'must not contain line breaks' };
  const trimmed = input.trim();
  const angle = /^(.*?)\s*<([^<>]*)>$/.exec(trimmed);
  const address = angle ? (angle[2] as string).trim() : trimmed;
  let name = angle ? (angle[1] as string).trim() : undefined;
  if (name?.startsWith('"') && name.endsWith('"') && name.length >= 2)
    name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  if (!angle && /[<>]/.test(trimmed))
    return { problem: 'has unbalanced angle brackets (expected "Name <addr@example.com>")' };
  const problem = addressProblem(address);
  if (problem) return { problem };
  return name ? { name, address } : { address };
}

/** Formats a mailbox back to a header value. */
export function formatMailbox(mailbox: Mailbox): string {
  if (!mailbox.name) return mailbox.address;
  const needsQuotes = /[()<>[\]:;@\\,."]/.test(mailbox.name);
  return needsQuotes
    ? `"${mailbox.name.replace(/(["\\])/g, '\\$1')}" <${mailbox.address}>`
    : `${mailbox.name} <${mailbox.address}>`;
}
