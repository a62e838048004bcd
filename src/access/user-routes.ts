import { z } from 'zod';
import { ROLES } from '../core/http/access-policy.js';
import type { HttpApp } from '../core/http/server.js';
import type { Accounts, Actor } from './accounts.js';
import type { AccessDeps } from './service.js';
import { createApiKey, listKeys, revokeKey } from './service.js';
import { requestContext } from './session-cookie.js';
import { newUserSchema, userPatchSchema, userSchema } from './users-model.js';

/**
 * Users and API keys under `/api` (admin only: access-policy.ts). The dashboard's Users and
 * API keys screens use them; `facteur user` and `facteur apikey` do the same from the CLI.
 */

const idParams = z.object({ id: z.string().min(1).max(100) });
const keySchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  prefix: z.string(),
  createdAt: z.number(),
  lastUsedAt: z.number().nullable(),
  revokedAt: z.number().nullable(),
});

export function registerUserRoutes(api: HttpApp, deps: { accounts: Accounts; keys: AccessDeps }): void {
  const { accounts } = deps;
  const actor = (principal: unknown) => principal as Actor;
  const users = { tags: ['users'] };

  api.get(
    '/users',
    {
      schema: {
        ...users,
        summary: 'Every user (never a password).',
        response: { 200: z.object({ items: z.array(userSchema) }) },
      },
    },
    async () => ({
      items: await accounts.list(),
    }),
  );
  api.get(
    '/users/:id',
    { schema: { ...users, summary: 'One user.', params: idParams, response: { 200: userSchema } } },
    (request) => accounts.get(request.params.id),
  );
  api.post(
    '/users',
    {
      config: { auditedByDomain: true },
      schema: {
        ...users,
        summary: 'Creates a user; without a password, they sign in by emailed link.',
        body: newUserSchema,
        response: { 201: userSchema },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await accounts.createUser(request.body, actor(request.principal), requestContext(request))),
  );
  api.patch(
    '/users/:id',
    {
      config: { auditedByDomain: true },
      schema: {
        ...users,
        summary: 'Changes a user; a new role or disabling ends their sessions at once.',
        params: idParams,
        body: userPatchSchema,
        response: { 200: userSchema },
      },
    },
    (request) =>
      accounts.update(request.params.id, request.body, actor(request.principal), requestContext(request)),
  );
  api.delete(
    '/users/:id',
    {
      config: { auditedByDomain: true },
      schema: {
        ...users,
        summary: 'Deletes a user with their sessions (not the last admin).',
        params: idParams,
        response: { 204: z.null() },
      },
    },
    async (request, reply) => {
      await accounts.remove(request.params.id, actor(request.principal), requestContext(request));
      return reply.status(204).send(null);
    },
  );

  const keys = { tags: ['keys'] };
  api.get(
    '/keys',
    {
      schema: {
        ...keys,
        summary: 'Every API key (never the key itself).',
        response: { 200: z.object({ items: z.array(keySchema) }) },
      },
    },
    async () => ({
      items: await listKeys(deps.keys),
    }),
  );
  api.post(
    '/keys',
    {
      schema: {
        ...keys,
        summary: 'Creates an API key with a role; the key is in this answer only.',
        body: z.object({ name: z.string().min(1).max(100), role: z.enum(ROLES) }).strict(),
        response: { 201: keySchema.extend({ key: z.string().describe('Shown once; store it now.') }) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createApiKey(deps.keys, request.body.name, request.body.role)),
  );
  api.delete(
    '/keys/:id',
    {
      schema: {
        ...keys,
        summary: 'Revokes an API key (by id or prefix); it stops working at once.',
        params: idParams,
        response: { 200: keySchema },
      },
    },
    (request) => revokeKey(deps.keys, request.params.id),
  );
}
