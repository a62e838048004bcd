import type { Kysely } from 'kysely';
import { maskSecret } from '../core/crypto/index.js';
import type { Database, Tx } from '../core/db/index.js';
import { AppError } from '../core/errors.js';
import type { TargetGuard } from '../core/net/ssrf.js';
import {
  SettingsCollection,
  type SettingsDeps,
  type SettingsKind,
  type SettingsRecord,
} from '../core/settings/index.js';
import { parseOrThrow } from '../core/validation.js';
import {
  type EndpointCreateInput,
  type EndpointSettings,
  type EndpointStatus,
  type EndpointUpdateInput,
  endpointCreateSchema,
  endpointUpdateSchema,
  inputFromSettings,
  settingsFromInput,
  subscribes,
} from './model.js';
import { generateSecret } from './signing.js';
import {
  bringEndpointJobsForward,
  cancelEndpointJobs,
  disableEndpointRow,
  setEndpointMaxAttempts,
} from './store.js';

/**
 * Webhook endpoints: one kind of runtime setting (core/settings). The collection gives the
 * validated writes, sealed secrets, versions, notification and the in-memory copy for the hot
 * path; this file says what is particular to endpoints: the signing secrets and their
 * rotation, the save-time address check, and the waiting deliveries that follow a change.
 */

/** The notification channel for endpoint changes. */
export const ENDPOINTS_CHANNEL = 'webhook_endpoints';
/** Waits that end when an endpoint is resumed or changed. */
const HELD_CODES = ['WEBHOOK_HELD', 'WEBHOOK_THROTTLED'];

/** Secrets as stored (sealed as one JSON document). */
export interface EndpointSecrets {
  /** Current first; older ones sign too until they expire. */
  signing: Array<{ secret: string; expiresAt: number | null }>;
  headers: Record<string, string>;
}

/** An endpoint as the delivery path uses it: settings and secrets in clear. */
export interface Endpoint extends SettingsRecord<EndpointSettings, EndpointSecrets> {
  status: EndpointStatus;
  failingSince: number | null;
  failureWarnedAt: number | null;
  disabledAt: number | null;
  disabledReason: string | null;
}

/** Dependencies of the endpoint registry. */
export interface EndpointDeps extends SettingsDeps {
  secretKey: Buffer;
  /** The SSRF guard, for the save-time address check. */
  guard: TargetGuard;
}

const millis = (value: unknown): number | null =>
  value === null || value === undefined ? null : Number(value);

/** What is particular to endpoints as settings. */
function endpointKind(
  guard: TargetGuard,
): SettingsKind<EndpointSettings, EndpointSecrets, EndpointCreateInput, EndpointUpdateInput, Endpoint> {
  return {
    noun: 'endpoint',
    table: 'webhook_endpoints',
    path: '/api/endpoints',
    channel: ENDPOINTS_CHANNEL,
    columns: { status: true, secrets: true, position: false },
    createSchema: endpointCreateSchema,
    patchSchema: endpointUpdateSchema,
    emptySecrets: { signing: [], headers: {} },
    prepare({ secret, ...fields }, current) {
      const { settings, problems } = settingsFromInput(fields);
      const signing = current?.secrets.signing ?? [{ secret: secret ?? generateSecret(), expiresAt: null }];
      return { settings, secrets: { signing, headers: fields.headers }, problems };
    },
    toInput: (endpoint) =>
      parseOrThrow(
        endpointCreateSchema,
        inputFromSettings(endpoint.settings, endpoint.secrets.headers),
        'stored endpoint',
      ),
    // A name that does not resolve yet is allowed: it is checked again on every connection.
    check: async (settings, before) => {
      if (before?.settings.url !== settings.url) await guard.checkUrl(settings.url, 'url');
    },
    // Header values are secrets: an import that leaves `headers` out keeps the stored ones.
    exportForm: (endpoint) => {
      const { headers: _secret, ...written } = inputFromSettings(endpoint.settings, {});
      return written;
    },
    decorate: (record, row) => {
      // Rows written before the per-endpoint switch was removed still carry it: dropped, never honoured.
      const { allowPrivateTargets: _removed, ...settings } = record.settings as EndpointSettings & {
        allowPrivateTargets?: unknown;
      };
      return {
        ...record,
        settings,
        status: record.status as EndpointStatus,
        failingSince: millis(row.failing_since),
        failureWarnedAt: millis(row.failure_warned_at),
        disabledAt: millis(row.disabled_at),
        disabledReason: (row.disabled_reason as string | null) ?? null,
      };
    },
    // Resuming also re-enables a disabled endpoint and starts its failure count afresh.
    statusColumns: (status) =>
      status === 'active'
        ? { disabled_at: null, disabled_reason: null, failing_since: null, failure_warned_at: null }
        : {},
    afterWrite: async (tx, change, now) => {
      if (change.op === 'delete') {
        // The jobs of its deliveries go first: the rows they point at are about to go.
        await cancelEndpointJobs(tx, change.before.id, now);
      } else if (change.op === 'update') {
        if (change.patch.retrySchedule !== undefined)
          await setEndpointMaxAttempts(tx, change.after.id, change.after.settings.retryScheduleMs.length + 1);
        // A held delivery re-checks the new window at once instead of waiting for the old one.
        await bringEndpointJobsForward(tx, change.after.id, now, HELD_CODES, true);
      } else if (change.op === 'status' && change.after.status === 'active') {
        await bringEndpointJobsForward(tx, change.after.id, now, HELD_CODES, true);
      }
    },
  };
}

export class EndpointRegistry extends SettingsCollection<
  EndpointSettings,
  EndpointSecrets,
  EndpointCreateInput,
  EndpointUpdateInput,
  Endpoint
> {
  constructor(deps: EndpointDeps) {
    super(endpointKind(deps.guard), deps);
  }

  /** Endpoints subscribed to `type`, whatever their status: paused and disabled ones hold the deliveries. */
  async subscribersOf(type: string, db?: Kysely<Database>): Promise<Endpoint[]> {
    const all = await this.all(db);
    return [...all.values()].filter((e) => subscribes(e.settings.eventTypes, type));
  }

  /** Disables an endpoint inside `tx` (410 Gone, failing too long). False if it already was. */
  async disableIn(tx: Tx, id: string, reason: string, now: number): Promise<boolean> {
    const disabled = await disableEndpointRow(tx, id, reason, now);
    this.changedIn(tx);
    return disabled;
  }

  /** A new signing secret; the previous ones keep signing for `overlapMs`, then stop. */
  async rotateSecret(
    id: string,
    overlapMs: number,
    given?: string,
  ): Promise<{ secret: string; previousExpiresAt: number }> {
    const now = this.deps.clock.now();
    const secret = given ?? generateSecret();
    const previousExpiresAt = now + overlapMs;
    await this.setSecrets(id, (current) => ({
      ...current.secrets,
      signing: [
        { secret, expiresAt: null },
        ...current.secrets.signing
          .filter((s) => s.expiresAt === null || s.expiresAt > now)
          .map((s) => ({
            secret: s.secret,
            expiresAt: Math.min(s.expiresAt ?? previousExpiresAt, previousExpiresAt),
          })),
      ],
    }));
    this.deps.logger.info({ event: 'endpoint.secret_rotated', endpointId: id }, 'signing secret rotated');
    return { secret, previousExpiresAt };
  }

  /** The secrets that sign now: the current one and those still in their overlap. */
  signingSecrets(endpoint: Endpoint, now: number): string[] {
    if (endpoint.secretsProblem) throw new AppError('CONFIG_INVALID', endpoint.secretsProblem);
    return endpoint.secrets.signing
      .filter((s) => s.expiresAt === null || s.expiresAt > now)
      .map((s) => s.secret);
  }
}

/** Masks header values and secrets for API answers. */
export function maskedHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, maskSecret(value, 4)]));
}
