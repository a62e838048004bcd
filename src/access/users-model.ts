import { z } from 'zod';
import { addressProblem } from '../core/email-address.js';
import { ROLES, type Role } from '../core/http/access-policy.js';

/** A person who signs in to the dashboard, as listed (never the password hash). */
export interface UserInfo {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** False for a user who signs in by emailed link only. */
  hasPassword: boolean;
  createdAt: number;
  updatedAt: number;
  disabledAt: number | null;
}

/** Shortest and longest password accepted (NIST SP 800-63B: length, not composition rules). */
export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 200;

/** The sign-in identifier: trimmed and lower-cased. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

const emailSchema = z
  .string()
  .max(254)
  .transform(normaliseEmail)
  .superRefine((value, ctx) => {
    const problem = addressProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `expected an email address (${problem})` });
  });

const nameSchema = z
  .string()
  .trim()
  .min(1, 'expected 1 to 100 characters')
  .max(100, 'expected 1 to 100 characters');

export const passwordSchema = z
  .string()
  .min(PASSWORD_MIN, `expected at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `expected at most ${PASSWORD_MAX} characters`);

const roleSchema = z.enum(ROLES);

/** `POST /api/users` and `facteur user create`. */
export const newUserSchema = z
  .object({
    email: emailSchema,
    name: nameSchema,
    role: roleSchema,
    password: passwordSchema.optional().describe('Omit it for a user who signs in by emailed link.'),
  })
  .strict();
export type NewUser = z.infer<typeof newUserSchema>;

/** `PATCH /api/users/:id`. */
export const userPatchSchema = z
  .object({
    name: nameSchema.optional(),
    role: roleSchema.optional(),
    disabled: z.boolean().optional().describe('true ends every session and refuses sign-in.'),
    password: passwordSchema.optional(),
  })
  .strict();
export type UserPatch = z.infer<typeof userPatchSchema>;

/** `POST /auth/login`. */
export const loginSchema = z
  .object({ email: z.string().max(254).transform(normaliseEmail), password: z.string().max(PASSWORD_MAX) })
  .strict();

/** `POST /auth/magic-link`. */
export const magicLinkRequestSchema = z
  .object({ email: z.string().max(254).transform(normaliseEmail) })
  .strict();

/** `POST /auth/setup`: the first admin, with the setup token printed in the log. */
export const setupSchema = z
  .object({
    token: z.string().min(1).max(200),
    email: emailSchema,
    name: nameSchema,
    password: passwordSchema,
  })
  .strict();

/** `POST /auth/password`: a signed-in user changes their own password. */
export const passwordChangeSchema = z
  .object({ current: z.string().max(PASSWORD_MAX), password: passwordSchema })
  .strict();

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: roleSchema,
  hasPassword: z.boolean(),
  createdAt: z.number(),
  updatedAt: z.number(),
  disabledAt: z.number().nullable(),
});
