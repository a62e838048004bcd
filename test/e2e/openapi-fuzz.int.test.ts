import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';
import { databaseSkipReason } from '../support/database.js';
import { startTestFacteur, type TestFacteur } from '../support/facteur.js';

/**
 * A fuzz test driven by `/openapi.json`, on both databases: every route of the document (a new
 * route is fuzzed without anyone listing it) gets malformed, mistyped, oversized and hostile
 * input: no key, a wrong key, broken JSON, each field missing or of the wrong type, NUL and
 * unpaired surrogates in every string, huge numbers, odd path parameters, a body over the
 * limit. No answer may be a 5xx or a reset; every error answer has the API's shape with a
 * registered code and a bounded message; a valid body built from the schema must be accepted,
 * so that the fuzzing reaches past validation. The server answers /healthz afterwards.
 */

const skip = await databaseSkipReason();

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  format?: string;
  minLength?: number;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  deprecated?: boolean;
};
type Operation = {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
};
type Json = Record<string, unknown>;

/**
 * Routes whose valid body still needs a secret the fuzzer does not hold (a password, a setup
 * token, a session): the answer that proves the body passed validation.
 */
const NEEDS_SECRET: Record<string, number> = {
  'POST /auth/login': 401, // AUTH_INVALID: no such account
  'POST /auth/setup': 404, // LINK_UNKNOWN: not the token printed in the log
  'POST /auth/password': 401, // AUTH_REQUIRED: no session
};

/** Bodies the schema alone cannot make valid (they need another resource, or bytes). */
function exampleBody(path: string, method: string): unknown {
  const key = `${method} ${path}`;
  const rule = { name: `fuzz rule ${++made}`, actions: [{ type: 'tag', tags: ['fuzz'] }] };
  const examples: Record<string, unknown> = {
    'POST /api/messages': { to: ['fuzz@example.com'], subject: 'fuzz', text: 'hello' },
    'POST /api/users': { email: `fuzz${++made}@example.com`, name: 'Fuzz', role: 'viewer' },
    'POST /auth/setup': {
      token: 'x'.repeat(43),
      email: 'fuzz@example.com',
      name: 'Fuzz',
      password: 'a long enough password',
    },
    'POST /api/endpoints': { name: `fuzz ${++made}`, url: 'https://example.com/fuzz' },
    'POST /api/rules': rule,
    'PATCH /api/rules/{id}': { name: `fuzz rule ${++made}` },
    'POST /api/rules/backtest': { last: 10 },
    // The fuzz instance has no FACTEUR_TRANSPORTS: its one transport is the built-in catcher.
    'POST /api/doctor/transport': { transport: 'catcher' },
    'POST /api/ingress/gmail': { subject: 'fuzz', sender: 'Fuzz <fuzz@example.com>', body: '<p>x</p>' },
    'POST /api/reports': {
      name: `fuzz report ${++made}`,
      to: ['fuzz@example.com'],
      subject: 'fuzz {{ data.n }}',
      text: 'n={{ data.n }}',
      data: { type: 'push' },
    },
    'PATCH /api/reports/{id}': { subject: 'fuzz again {{ data.n }}' },
    'POST /api/reports/{id}/runs': { data: { n: 1 } },
    'POST /api/reports/{id}/preview': { data: { n: 2 } },
    'POST /api/suppressions': { address: `fuzz${++made}@example.com` },
    'POST /api/lists/{id}/contacts': { contacts: [{ address: `fuzz${++made}@example.com` }] },
    'POST /api/campaigns': {
      name: `fuzz campaign ${++made}`,
      subject: 'fuzz {{ name }}',
      text: 'hello {{ email }}',
      recipients: [{ address: `fuzz${++made}@example.com`, fields: { n: 1 } }],
    },
    'POST /api/campaigns/{id}/test': { to: 'fuzz@example.com' },
    // The providers' bounce webhooks, posted with the API key (the provider's signature is then not required).
    'POST /api/feedback/postmark': {
      RecordType: 'Bounce',
      Type: 'HardBounce',
      MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
      Email: `fuzz${++made}@example.com`,
      Details: 'smtp;550 5.1.1 no such user',
      BouncedAt: '2026-01-05T09:00:00Z',
    },
    'POST /api/feedback/sendgrid': [
      {
        email: `fuzz${++made}@example.com`,
        timestamp: 1767603600,
        event: 'bounce',
        type: 'bounce',
        status: '5.1.1',
        reason: '550 5.1.1 no such user',
        'smtp-id': '<fuzz@example.com>',
        sg_message_id: 'W86EgYT6SQKk0lRflfLRsA.filterdrecv-1.0',
      },
    ],
    'POST /api/feedback/mailgun': {
      'event-data': {
        event: 'failed',
        severity: 'permanent',
        recipient: `fuzz${++made}@example.com`,
        timestamp: 1767603600.5,
        'delivery-status': { code: 550, 'enhanced-code': '5.1.1', message: 'No such user' },
        message: { headers: { 'message-id': 'fuzz@example.com' } },
      },
    },
    'POST /api/feedback/ses': {
      Type: 'Notification',
      MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:ses-bounces',
      Message: JSON.stringify({
        notificationType: 'Bounce',
        bounce: {
          bounceType: 'Permanent',
          bouncedRecipients: [{ emailAddress: `fuzz${++made}@example.com` }],
        },
        mail: {
          messageId: '0100018e3e5f1c2a-000000',
          headers: [{ name: 'Message-ID', value: '<fuzz@example.com>' }],
        },
      }),
      Timestamp: '2026-01-05T09:00:00.000Z',
    },
    'POST /api/mailboxes': {
      name: `fuzz ${++made}`,
      host: 'imap.invalid',
      port: 993,
      tls: 'implicit',
      auth: { type: 'password', user: 'fuzz', password: 'fuzz' },
    },
  };
  return examples[key];
}
let made = 0;

/** A value valid for `schema`, as far as a schema says: required fields, enums, formats. */
function generate(schema: Schema | undefined, depth = 0): unknown {
  if (!schema || depth > 6) return undefined;
  if (schema.examples?.length) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum?.length) return schema.enum[0];
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices) return generate(choices.find((c) => c.type !== 'null') ?? choices[0], depth + 1);
  if (schema.allOf?.length) return generate(schema.allOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const out: Json = {};
      for (const name of schema.required ?? []) out[name] = generate(schema.properties?.[name], depth + 1);
      return out;
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 1 }, () => generate(schema.items, depth + 1));
    case 'string':
      if (schema.format === 'email') return 'fuzz@example.com';
      if (schema.format === 'uri') return 'https://example.com/fuzz';
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'uuid') return '01900000-0000-7000-8000-000000000000';
      return 'f'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return false;
    default:
      return undefined;
  }
}

/** Every string inside `value`, by path. */
function stringPaths(value: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((item, i) => stringPaths(item, [...path, i]));
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => stringPaths(item, [...path, key]));
  return [];
}

function setAt(value: unknown, path: Array<string | number>, replacement: unknown): unknown {
  const copy = structuredClone(value) as Json;
  let node: Json = copy;
  for (const part of path.slice(0, -1)) node = node[part as string] as Json;
  const last = path.at(-1);
  if (last === undefined) return replacement;
  if (replacement === DELETE) delete node[last as string];
  else node[last as string] = replacement;
  return copy;
}
const DELETE = Symbol('delete');

interface Case {
  route: string;
  name: string;
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  auth?: 'none' | 'wrong';
  expectAccepted?: boolean;
  /** Error statuses the route documents as an HTML page (a public page for people), not JSON. */
  htmlErrors?: string[];
}

interface Answer {
  status: number;
  type?: string;
  text: string;
  error?: string;
}

describe.skipIf(skip)('fuzzing every route of /openapi.json', () => {
  let app: TestFacteur;
  beforeAll(async () => {
    app = await startTestFacteur({ FACTEUR_HTTP_BODY_LIMIT: '64kb' });
  });
  afterAll(async () => {
    await app?.close();
  });

  /** Sends one case over node:http, so a reset is seen as what it is. */
  function send(c: Case): Promise<Answer> {
    return new Promise((resolve) => {
      const url = new URL(app.url);
      const body = c.body === undefined ? undefined : Buffer.from(c.body, 'utf8');
      const headers: Record<string, string | number> = {};
      if (c.auth === undefined) headers.authorization = `Bearer ${app.key}`;
      else if (c.auth === 'wrong') headers.authorization = 'Bearer fk_wrong_key_0000000000000000';
      if (body) {
        headers['content-type'] = c.contentType ?? 'application/json';
        headers['content-length'] = body.length;
      }
      let answer: Answer | undefined;
      let uploaded = body === undefined;
      const done = () => answer && uploaded && resolve(answer);
      const req = httpRequest(
        { host: url.hostname, port: url.port, path: c.path, method: c.method, headers },
        (res) => {
          // A live stream (a campaign's events) never ends: its first event is the answer.
          if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('text/event-stream')) {
            res.once('data', (chunk: Buffer) => {
              answer = { status: 200, text: String(chunk) };
              uploaded = true;
              req.destroy();
              done();
            });
            return;
          }
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => {
            answer = { status: res.statusCode ?? 0, text, type: String(res.headers['content-type'] ?? '') };
            done();
          });
        },
      );
      req.on('error', (error) =>
        resolve({ status: 0, text: '', error: (error as NodeJS.ErrnoException).code ?? error.message }),
      );
      if (body)
        req.end(body, () => {
          uploaded = true;
          done();
        });
      else req.end();
    });
  }

  /** What is wrong with an answer, or null. */
  function problem(c: Case, a: Answer): string | null {
    if (a.error) return `connection error ${a.error}`;
    if (a.status >= 500) return `status ${a.status}: ${a.text.slice(0, 200)}`;
    if (c.expectAccepted && a.status >= 400 && NEEDS_SECRET[`${c.method} ${c.route}`] !== a.status)
      return `a body built from the schema was refused (${a.status}: ${a.text.slice(0, 300)}); give the route an example (zod .meta({ examples })) or add it to exampleBody()`;
    if (a.status < 400) return null;
    if (c.htmlErrors?.includes(String(a.status)) && a.type?.startsWith('text/html')) return null;
    let body: { error?: { code?: unknown; message?: unknown; details?: unknown } };
    try {
      body = JSON.parse(a.text);
    } catch {
      return `status ${a.status} with a body that is not JSON: ${a.text.slice(0, 100)}`;
    }
    const error = body.error;
    if (!error || typeof error.code !== 'string' || typeof error.message !== 'string')
      return `status ${a.status} without the error shape: ${a.text.slice(0, 200)}`;
    if (!Object.hasOwn(ERROR_CODES, error.code)) return `unregistered code ${error.code}`;
    if (error.message.length > 2000 || a.text.length > 8000)
      return `message of ${error.message.length} characters`;
    if (error.code === 'VALIDATION_FAILED') {
      const details = error.details as Array<{ in?: unknown; field?: unknown }> | null | undefined;
      const named =
        Array.isArray(details) &&
        details.length > 0 &&
        details.every((d) => typeof d.in === 'string' && typeof d.field === 'string');
      if (!named) return `VALIDATION_FAILED without details naming the field: ${a.text.slice(0, 200)}`;
    }
    return null;
  }

  it('answers every case without a 5xx, a reset or a shapeless error, and accepts valid bodies', async () => {
    const doc = (
      await app.request<{ paths: Record<string, Record<string, Operation>> }>('GET', '/openapi.json')
    ).body;
    const ids = new Map<string, string>();
    const failures: string[] = [];
    let sent = 0;
    const run = async (cases: Case[]) => {
      for (let i = 0; i < cases.length; i += 8) {
        const batch = cases.slice(i, i + 8);
        const answers = await Promise.all(batch.map(send));
        sent += batch.length;
        batch.forEach((c, k) => {
          const p = problem(c, answers[k] as Answer);
          if (p) failures.push(`${c.method} ${c.route} [${c.name}]: ${p}`);
        });
      }
    };

    // Creations first (they give real ids to the routes below them), deletions last.
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    const rank = (r: { path: string; method: string }) =>
      r.method === 'DELETE' ? 3 : r.method === 'POST' && !r.path.includes('{') ? 0 : 1;
    routes.sort((a, b) => rank(a) - rank(b));

    for (const { path, method, op } of routes) {
      if (path === '/openapi.json' || path === '/metrics') continue;
      const collection = path.split('/{')[0] as string;
      const fill = (value: string) => path.replace(/\{[^}]+\}/g, value);
      const realPath = fill(ids.get(collection) ?? '01900000-0000-7000-8000-000000000000');
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      const cases: Case[] = [];
      const htmlErrors = Object.entries(op.responses ?? {})
        .filter(([status, r]) => Number(status) >= 400 && r.content?.['text/html'])
        .map(([status]) => status);
      const base = (extra: Partial<Case>): Case => ({
        route: path,
        name: '',
        method,
        path: realPath,
        htmlErrors,
        ...extra,
      });

      // Authentication.
      if (path.startsWith('/api/')) {
        cases.push(base({ name: 'no key', auth: 'none' }), base({ name: 'wrong key', auth: 'wrong' }));
      }
      // Path parameters.
      if (path.includes('{')) {
        for (const [name, value] of [
          ['bad percent-encoding', '%ff%fe'],
          ['NUL', '%00'],
          ['NUL inside', 'a%00b'],
          ['lone surrogate', '%ed%a0%80'],
          ['5,000 characters', 'x'.repeat(5000)],
          ['dot segments', '..%2f..'],
        ] as const)
          cases.push(base({ name: `path ${name}`, path: fill(value) }));
      }
      // Query parameters.
      for (const param of op.parameters ?? []) {
        if (param.in !== 'query') continue;
        for (const [name, value] of [
          ['NUL', 'a%00b'],
          ['lone surrogate', '%ed%a0%80'],
          ['10,000 characters', 'q'.repeat(10_000)],
          ['negative', '-1'],
          ['huge', '1e308'],
        ] as const)
          cases.push(
            base({ name: `query ${param.name} ${name}`, path: `${realPath}?${param.name}=${value}` }),
          );
      }
      // Bodies.
      if (json || method === 'POST' || method === 'PATCH' || method === 'PUT') {
        for (const [name, text] of [
          ['malformed JSON', '{"a":'],
          ['an array', '[1,2]'],
          ['a string', '"text"'],
          ['a number', '12'],
          ['a __proto__ key', '{"__proto__":{"admin":true}}'],
          ['a constructor.prototype key', '{"constructor":{"prototype":{"admin":true}}}'],
          ['NUL in a key', '{"a\\u0000b":1}'],
        ] as const)
          cases.push(base({ name, body: text }));
        cases.push(base({ name: 'text/plain', body: 'hello', contentType: 'text/plain' }));
        cases.push(base({ name: 'over the body limit', body: `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}` }));
      }
      if (json) {
        const valid =
          path === '/api/rules/order'
            ? {
                ids: (
                  await app.request<{ rules: Array<{ id: string }> }>('GET', '/api/rules')
                ).body.rules.map((r) => r.id),
              }
            : path === '/api/doctor/imap'
              ? { mailbox: ids.get('/api/mailboxes') }
              : path === '/api/doctor/webhook'
                ? { endpoint: ids.get('/api/endpoints') }
                : (exampleBody(path, method) ?? generate(json));
        // The valid body first: it must be accepted, and what it creates serves the routes below.
        const accepted = base({ name: 'a valid body', body: JSON.stringify(valid), expectAccepted: true });
        const answer = await send(accepted);
        sent += 1;
        const p = problem(accepted, answer);
        if (p) failures.push(`${method} ${path} [a valid body]: ${p}`);
        if (answer.status < 300 && method === 'POST' && !path.includes('{')) {
          const id = (JSON.parse(answer.text) as { id?: string }).id;
          if (id) ids.set(path, id);
        }
        for (const key of Object.keys((valid as Json) ?? {})) {
          cases.push(base({ name: `${key} missing`, body: JSON.stringify(setAt(valid, [key], DELETE)) }));
          cases.push(base({ name: `${key} as a number`, body: JSON.stringify(setAt(valid, [key], 12345)) }));
          cases.push(
            base({ name: `${key} as an object`, body: JSON.stringify(setAt(valid, [key], { x: 1 })) }),
          );
          cases.push(base({ name: `${key} as 1e308`, body: JSON.stringify(setAt(valid, [key], 1e308)) }));
          cases.push(
            base({ name: `${key} as 2^53+1`, body: JSON.stringify(setAt(valid, [key], 2 ** 53 + 1)) }),
          );
          cases.push(base({ name: `${key} as -1.5`, body: JSON.stringify(setAt(valid, [key], -1.5)) }));
          cases.push(base({ name: `${key} as null`, body: JSON.stringify(setAt(valid, [key], null)) }));
          cases.push(base({ name: `${key} as ""`, body: JSON.stringify(setAt(valid, [key], '')) }));
          cases.push(base({ name: `${key} as an array`, body: JSON.stringify(setAt(valid, [key], [[]])) }));
        }
        cases.push(
          base({ name: 'an unknown field', body: JSON.stringify({ ...(valid as Json), zzUnknown: 1 }) }),
        );
        for (const at of stringPaths(valid)) {
          const where = at.join('.');
          cases.push(base({ name: `NUL in ${where}`, body: JSON.stringify(setAt(valid, at, 'a\u0000b')) }));
          cases.push(
            base({ name: `lone surrogate in ${where}`, body: JSON.stringify(setAt(valid, at, '\ud800x')) }),
          );
          cases.push(
            base({
              name: `10,000 characters in ${where}`,
              body: JSON.stringify(setAt(valid, at, 'w'.repeat(10_000))),
            }),
          );
        }
        await run(cases);
      } else {
        await run(cases);
      }
    }

    const health = await app.request('GET', '/healthz');
    if (health.status !== 200) failures.push(`/healthz answered ${health.status} after the fuzzing`);
    const shown = failures.slice(0, 60).join('\n');
    expect(failures, `${failures.length} of ${sent} cases failed:\n${shown}`).toEqual([]);
    // Every route got its share of cases (no route was skipped for want of a schema).
    expect(sent).toBeGreaterThan(routes.length * 10);
    // The valid bodies created resources, so the routes under them were fuzzed past NOT_FOUND.
    expect([...ids.keys()]).toEqual(
      expect.arrayContaining([
        '/api/endpoints',
        '/api/rules',
        '/api/mailboxes',
        '/api/reports',
        '/api/lists',
        '/api/campaigns',
      ]),
    );
  });
});
