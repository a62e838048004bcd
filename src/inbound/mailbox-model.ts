import { z } from 'zod';
import { parseDuration } from '../core/config/parsers.js';
import {
  type DeliverySchedule,
  isValidTimeZone,
  parseTimeOfDay,
  scheduleProblem,
  WEEKDAYS,
} from '../core/schedule.js';

/**
 * Mailbox settings as the API takes them (`/api/mailboxes`), validated on write. Credentials
 * (password, OAuth2 refresh token and client secret) are split off and sealed at rest; the rest
 * is stored as written, so that what the API shows is what was given.
 */

const timeOfDay = z
  .string()
  .refine((text) => parseTimeOfDay(text) !== null, 'must be a time of day like 09:30 or 9h30');
const localDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date written YYYY-MM-DD');
const folderName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\r\n\0]*$/, 'must not contain line breaks');
const pollInterval = z.string().refine((text) => {
  const ms = durationOrNaN(text);
  return ms >= 1000 && ms <= 3_600_000;
}, 'must be a duration between 1s and 1h, like 30s or 5m');

const passwordAuth = z.strictObject({
  type: z.literal('password'),
  user: z.string().min(1).max(320),
  password: z.string().min(1).max(1024).describe('Sealed at rest; never shown again.'),
});
const oauthAuth = z.strictObject({
  type: z.literal('oauth2'),
  user: z.string().min(1).max(320),
  clientId: z.string().min(1).max(512),
  clientSecret: z.string().min(1).max(1024).optional().describe('Sealed at rest; never shown again.'),
  refreshToken: z.string().min(1).max(4096).describe('Sealed at rest; never shown again.'),
  tokenUrl: z
    .url({ protocol: /^https?$/ })
    .prefault('https://oauth2.googleapis.com/token')
    .describe('Where the refresh token is exchanged for an access token (XOAUTH2).'),
});

const scheduleSchema = z.strictObject({
  weekdays: z
    .array(z.enum(WEEKDAYS))
    .min(1, 'needs at least one active day')
    .prefault(['monday', 'tuesday', 'wednesday', 'thursday', 'friday'])
    .describe('Days on which mail is handled (default Monday to Friday).'),
  hours: z
    .strictObject({ start: timeOfDay, end: timeOfDay })
    .nullable()
    .prefault(null)
    .describe('Local hours when mail is handled; may wrap midnight (22:00 to 06:00). Null: all day.'),
  timeZone: z
    .string()
    .refine(isValidTimeZone, 'must be an IANA time zone like Europe/Paris')
    .prefault('Europe/Paris'),
  vacations: z
    .array(z.strictObject({ from: localDate, to: localDate }))
    .max(100)
    .prefault([])
    .describe('Local date ranges (both days included) when mail waits.'),
});

/** What a mailbox's mail is for: routing by the rules, or bounces and complaints for campaigns. */
export const MAILBOX_PURPOSES = ['rules', 'bounces'] as const;
export type MailboxPurpose = (typeof MAILBOX_PURPOSES)[number];

const mailboxShape = {
  name: z.string().trim().min(1, 'must not be empty').max(100),
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or an IP address'),
  port: z.number().int().min(1).max(65_535),
  tls: z
    .enum(['implicit', 'starttls', 'none'])
    .describe('`implicit`: TLS from the first byte (993); `starttls`: upgrade (143); `none`: plain text.'),
  tlsVerify: z.boolean().describe('Check the server certificate (default true).'),
  auth: z.discriminatedUnion('type', [passwordAuth, oauthAuth]),
  folders: z.array(folderName).min(1).max(20),
  mode: z.enum(['idle', 'poll']).describe('`idle` (push, default) or `poll` every `pollInterval`.'),
  pollInterval: pollInterval.describe('Polling period (also used when the server lacks IDLE).'),
  schedule: scheduleSchema
    .nullable()
    .describe('When mail is handled; outside it, mail waits and is handled when it opens. Null: always.'),
  senderAllowlist: z
    .array(z.string().min(1).max(320))
    .max(1000)
    .describe('Addresses or @domains; others are recorded and skipped. Empty: everyone.'),
  afterHandled: z
    .strictObject({
      markSeen: z.boolean().prefault(true),
      moveTo: folderName.nullable().prefault(null),
      addFlag: z
        .string()
        .regex(/^\\?[A-Za-z0-9$_-]{1,64}$/, 'must be a flag name like $Facteur or \\Flagged')
        .nullable()
        .prefault(null),
    })
    .describe('Done once the message is handled and its deliveries succeeded; nothing before.'),
  startFrom: z
    .union([z.enum(['new', 'all']), z.strictObject({ lastDays: z.number().int().min(1).max(3650) })])
    .describe('On first connection: `new` mail only, `all`, or {"lastDays": N}.'),
  maxMessageMb: z
    .number()
    .int()
    .min(1)
    .max(100)
    .describe('Larger messages are recorded (fetched state, INBOUND_TOO_LARGE) and not parsed.'),
  purpose: z
    .enum(MAILBOX_PURPOSES)
    .describe(
      '`rules` (default): the routing rules run over its mail. `bounces`: its mail is read as bounces and complaints (DSN, ARF) for campaigns; no rule runs.',
    ),
};

/** POST /api/mailboxes. */
export const mailboxCreateSchema = z.strictObject({
  ...mailboxShape,
  port: mailboxShape.port.optional(),
  tls: mailboxShape.tls.prefault('implicit'),
  tlsVerify: mailboxShape.tlsVerify.prefault(true),
  folders: mailboxShape.folders.prefault(['INBOX']),
  mode: mailboxShape.mode.prefault('idle'),
  pollInterval: mailboxShape.pollInterval.prefault('30s'),
  schedule: mailboxShape.schedule.prefault(null),
  senderAllowlist: mailboxShape.senderAllowlist.prefault([]),
  afterHandled: mailboxShape.afterHandled.prefault({}),
  startFrom: mailboxShape.startFrom.prefault('new'),
  maxMessageMb: mailboxShape.maxMessageMb.prefault(25),
  purpose: mailboxShape.purpose.prefault('rules'),
});
export type MailboxCreateInput = z.infer<typeof mailboxCreateSchema>;

/** PATCH /api/mailboxes/{id}: any subset; `auth` is replaced whole when given. */
export const mailboxUpdateSchema = z.strictObject(mailboxShape).partial();
export type MailboxUpdateInput = z.infer<typeof mailboxUpdateSchema>;

/** The credentials, sealed together. */
export interface MailboxSecrets {
  password?: string;
  refreshToken?: string;
  clientSecret?: string;
}

/** Auth as stored in clear: who, and how, without the secrets. */
export type MailboxAuth =
  | { type: 'password'; user: string }
  | { type: 'oauth2'; user: string; clientId: string; tokenUrl: string };

/** Settings as stored (the written form, credentials removed, port resolved). */
export type MailboxSettings = Omit<MailboxCreateInput, 'auth' | 'port'> & { port: number; auth: MailboxAuth };

/** Splits validated input into stored settings and secrets. */
export function splitCredentials(input: MailboxCreateInput): {
  settings: MailboxSettings;
  secrets: MailboxSecrets;
} {
  const { auth, port, ...rest } = input;
  const resolvedPort = port ?? (input.tls === 'implicit' ? 993 : 143);
  if (auth.type === 'password') {
    return {
      settings: { ...rest, port: resolvedPort, auth: { type: 'password', user: auth.user } },
      secrets: { password: auth.password },
    };
  }
  return {
    settings: {
      ...rest,
      port: resolvedPort,
      auth: { type: 'oauth2', user: auth.user, clientId: auth.clientId, tokenUrl: auth.tokenUrl },
    },
    secrets: {
      refreshToken: auth.refreshToken,
      ...(auth.clientSecret ? { clientSecret: auth.clientSecret } : {}),
    },
  };
}

/** Problems zod cannot see: a schedule that never opens, vacations written backwards. */
export function mailboxProblems(settings: MailboxSettings): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const schedule = mailboxSchedule(settings);
  const problem = schedule ? scheduleProblem(schedule) : null;
  if (problem) problems.push({ field: 'schedule', message: problem });
  const moveTo = settings.afterHandled.moveTo;
  // A handled message moved into a watched folder would be fetched again, found a duplicate,
  // handled, and moved again.
  if (moveTo !== null && settings.folders.includes(moveTo)) {
    problems.push({
      field: 'afterHandled.moveTo',
      message: `must not be a watched folder (${moveTo} is in folders)`,
    });
  }
  const badSender = settings.senderAllowlist.findIndex(
    (entry) => !/^(@[^@\s]+\.[^@\s]+|[^@\s]+@[^@\s]+)$/.test(entry.trim()),
  );
  if (badSender >= 0) {
    problems.push({
      field: `senderAllowlist[${badSender}]`,
      message: 'must be an address (jane@example.com) or a domain (@example.com)',
    });
  }
  return problems;
}

/** A mailbox's purpose; mailboxes stored before the setting existed are `rules`. */
export function mailboxPurpose(settings: { purpose?: MailboxPurpose | undefined }): MailboxPurpose {
  return settings.purpose ?? 'rules';
}

/** The schedule in the form of `core/schedule` (null: always open). */
export function mailboxSchedule(settings: Pick<MailboxSettings, 'schedule'>): DeliverySchedule | null {
  const s = settings.schedule;
  if (!s) return null;
  const active = new Set(s.weekdays.map((day) => WEEKDAYS.indexOf(day)));
  return {
    timeZone: s.timeZone,
    window: s.hours
      ? { start: parseTimeOfDay(s.hours.start) as number, end: parseTimeOfDay(s.hours.end) as number }
      : null,
    absenceWeekdays: [0, 1, 2, 3, 4, 5, 6].filter((day) => !active.has(day)),
    vacations: s.vacations,
  };
}

function durationOrNaN(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    return Number.NaN;
  }
}
