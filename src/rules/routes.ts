import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { registerSettingsRoutes } from '../core/settings/index.js';
import { validationError } from '../core/validation.js';
import { type RuleInput, ruleSettingsSchema } from './model.js';
import { type RuleStore, ruleOf } from './store.js';

const ruleSchema = z
  .object({
    id: z.string(),
    position: z.number(),
    version: z
      .number()
      .int()
      .describe('Raised by every change; send it back as `If-Match` to change this version only.'),
  })
  .catchall(z.unknown())
  .describe('A rule as written, with its id and position (0 runs first).');

/** Dependencies of the rule routes. */
export interface RuleRouteDeps {
  rules: RuleStore;
  /** Ids among `ids` that name no webhook endpoint. */
  unknownEndpoints(ids: readonly string[]): Promise<string[]>;
}

/** Names each webhook action's endpoint that does not exist, as field errors. */
async function checkEndpoints(
  deps: RuleRouteDeps,
  actions: RuleInput['actions'],
  field: string,
): Promise<void> {
  const problems: { in: string; field: string; message: string }[] = [];
  for (const [index, action] of actions.entries()) {
    if (action.type !== 'webhook') continue;
    const unknown = new Set(await deps.unknownEndpoints(action.endpoints));
    for (const [at, id] of action.endpoints.entries()) {
      if (unknown.has(id)) {
        problems.push({
          in: 'body',
          field: `${field}[${index}].endpoints[${at}]`,
          message: `no endpoint has the id ${id}`,
        });
      }
    }
  }
  if (problems.length > 0) throw validationError('body', problems);
}

/** `/api/rules`: ordered routing rules and their settings. */
export function registerRuleRoutes(app: HttpApp, deps: RuleRouteDeps): void {
  const tags = ['rules'];
  registerSettingsRoutes(app, {
    path: '/rules',
    listKey: 'rules',
    tags,
    collection: deps.rules,
    view: ruleOf,
    viewSchema: ruleSchema,
    createQuery: z.object({ position: z.coerce.number().int().min(0).optional() }),
    check: async (body) => {
      if (body.actions) await checkEndpoints(deps, body.actions, 'actions');
    },
    list: {
      schema: z.object({ rules: z.array(ruleSchema), settings: z.unknown() }),
      body: async (records) => ({ rules: records.map(ruleOf), settings: await deps.rules.readSettings() }),
    },
    summaries: {
      create: 'Adds a rule, last unless `position` is given.',
      list: 'Every rule, in the order they run, and the rule settings.',
      get: 'One rule.',
      patch: 'Changes some fields of a rule; the result is validated as a whole.',
      delete: 'Deletes a rule.',
      order: 'Reorders the rules: `ids` lists every rule once, first to run first.',
    },
  });
  app.get(
    '/rules/settings',
    {
      schema: {
        summary: 'The rule settings: default actions, de-duplication, allowlist.',
        tags,
        response: { 200: z.unknown() },
      },
    },
    async () => deps.rules.readSettings(),
  );
  app.put(
    '/rules/settings',
    {
      schema: {
        summary: 'Replaces the rule settings (omitted fields take their defaults).',
        tags,
        body: ruleSettingsSchema,
        response: { 200: z.unknown() },
      },
    },
    async (request) => {
      await checkEndpoints(deps, request.body.defaultActions, 'defaultActions');
      return deps.rules.putSettings(request.body);
    },
  );
}
