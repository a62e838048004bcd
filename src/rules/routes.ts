import { z } from 'zod';
import type { HttpApp } from '../core/http/server.js';
import { validationError } from '../core/validation.js';
import { type Rule, type RuleInput, ruleInputSchema, rulePatchSchema, ruleSettingsSchema } from './model.js';
import type { RuleStore } from './store.js';

const idParams = z.object({ id: z.string().min(1).max(64) });
const ruleSchema = z
  .object({ id: z.string(), position: z.number() })
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
  const view = (rule: Rule) => rule;
  app.get(
    '/rules',
    {
      schema: {
        summary: 'Every rule, in the order they run, and the rule settings.',
        tags,
        response: { 200: z.object({ rules: z.array(ruleSchema), settings: z.unknown() }) },
      },
    },
    async () => {
      const { rules, settings } = await deps.rules.read(deps.rules.db);
      return { rules: rules.map(view), settings };
    },
  );
  app.post(
    '/rules',
    {
      schema: {
        summary: 'Adds a rule, last unless `position` is given.',
        tags,
        querystring: z.object({ position: z.coerce.number().int().min(0).optional() }),
        body: ruleInputSchema,
        response: { 201: ruleSchema },
      },
    },
    async (request, reply) => {
      await checkEndpoints(deps, request.body.actions, 'actions');
      const rule = await deps.rules.create(request.body, request.query.position);
      reply.header('location', `/api/rules/${rule.id}`);
      return reply.status(201).send(view(rule));
    },
  );
  app.get(
    '/rules/settings',
    {
      schema: {
        summary: 'The rule settings: default actions, de-duplication, allowlist.',
        tags,
        response: { 200: z.unknown() },
      },
    },
    async () => (await deps.rules.read(deps.rules.db)).settings,
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
  app.put(
    '/rules/order',
    {
      schema: {
        summary: 'Reorders the rules: `ids` lists every rule once, first to run first.',
        tags,
        body: z.strictObject({ ids: z.array(z.string().min(1).max(64)).max(1000) }),
        response: { 200: z.object({ rules: z.array(ruleSchema) }) },
      },
    },
    async (request) => ({ rules: (await deps.rules.reorder(request.body.ids)).map(view) }),
  );
  app.get(
    '/rules/:id',
    { schema: { summary: 'One rule.', tags, params: idParams, response: { 200: ruleSchema } } },
    async (request) => view(await deps.rules.get(request.params.id)),
  );
  app.patch(
    '/rules/:id',
    {
      schema: {
        summary: 'Changes some fields of a rule; the result is validated as a whole.',
        tags,
        params: idParams,
        body: rulePatchSchema,
        response: { 200: ruleSchema },
      },
    },
    async (request) => {
      if (request.body.actions) await checkEndpoints(deps, request.body.actions, 'actions');
      return view(await deps.rules.update(request.params.id, request.body));
    },
  );
  app.delete(
    '/rules/:id',
    { schema: { summary: 'Deletes a rule.', tags, params: idParams, response: { 204: z.null() } } },
    async (request, reply) => {
      await deps.rules.remove(request.params.id);
      return reply.status(204).send(null);
    },
  );
}
