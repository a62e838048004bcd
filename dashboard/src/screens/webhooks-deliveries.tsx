import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import {
  DataTable,
  ErrorNote,
  Facts,
  FilterBar,
  LoadedView,
  Pager,
  Screen,
  StatusBadge,
  useLoad,
} from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { Reconnecting, useEventStream } from './ops-parts.js';
import type { Endpoint } from './webhooks.js';

const STATUSES = ['pending', 'held', 'delivering', 'succeeded', 'failed', 'dead'] as const;
const REPLAYABLE = new Set(['succeeded', 'failed', 'dead']);
/** Final: nothing more happens to it unless it is replayed. */
const FINAL = new Set(['succeeded', 'failed', 'dead']);

interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  status: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: { code: string; message: string } | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

interface DeliveryAttempt {
  number: number;
  startedAt: string;
  finishedAt: string;
  outcome: string;
  url: string;
  format: string;
  statusCode: number | null;
  latencyMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
}

/** Endpoints and deliveries, as tabs (links, so each has its address). */
export function WebhookTabs({ current }: { current: 'endpoints' | 'deliveries' }) {
  const { t } = useI18n();
  return (
    <nav class="tabs" aria-label={t('webhooks.title')}>
      <a href={href('/webhooks')} aria-current={current === 'endpoints' ? 'page' : undefined}>
        {t('webhooks.endpoints')}
      </a>
      <a href={href('/webhooks/deliveries')} aria-current={current === 'deliveries' ? 'page' : undefined}>
        {t('webhooks.deliveries')}
      </a>
    </nav>
  );
}

/** The delivery status in words and colour. */
export function DeliveryStatus({ status }: { status: string }) {
  const { t } = useI18n();
  const known = (STATUSES as readonly string[]).includes(status);
  return (
    <StatusBadge status={status} label={known ? t(`webhooks.delivery.${status}` as MessageKey) : status} />
  );
}

/** Endpoint names by id, for the lists (ids alone when the list cannot be read). */
function useEndpointNames(): Map<string, string> {
  const loaded = useLoad(() => get<{ endpoints: Endpoint[] }>('/api/endpoints'), []);
  return new Map((loaded.data?.endpoints ?? []).map((e) => [e.id, e.name]));
}

/** `#/webhooks/deliveries?status=&endpoint=`. */
export function Deliveries({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const status = route.query.get('status') ?? '';
  const endpoint = route.query.get('endpoint') ?? '';
  const before = route.query.get('before') ?? '';
  const names = useEndpointNames();
  const loaded = useLoad(
    () =>
      get<{ deliveries: Delivery[]; nextBefore: string | null }>('/api/deliveries', {
        status,
        endpoint,
        before,
        limit: 50,
      }),
    [status, endpoint, before],
  );
  return (
    <Screen title={t('webhooks.title')}>
      <WebhookTabs current="deliveries" />
      <FilterBar
        id="delivery-status"
        label={t('webhooks.delivery.filter')}
        value={status}
        allLabel={t('webhooks.delivery.all')}
        options={STATUSES.map((s) => ({ value: s, label: t(`webhooks.delivery.${s}` as MessageKey) }))}
        onChange={(value) => navigate('/webhooks/deliveries', { status: value, endpoint })}
        onRefresh={loaded.reload}
      >
        {endpoint ? (
          <a href={href('/webhooks/deliveries', { status })}>
            {t('webhooks.delivery.allEndpoints', { name: names.get(endpoint) ?? endpoint })}
          </a>
        ) : null}
      </FilterBar>
      <LoadedView
        loaded={loaded}
        isEmpty={(data) => data.deliveries.length === 0}
        empty={t('webhooks.delivery.none')}
      >
        {(data) => (
          <DataTable
            testid="deliveries"
            columns={[
              t('webhooks.delivery.event'),
              t('webhooks.delivery.endpoint'),
              t('webhooks.delivery.status'),
              t('webhooks.delivery.attempts'),
              t('webhooks.delivery.created'),
            ]}
            rows={data.deliveries}
            row={(d) => (
              <tr key={d.id}>
                <td>
                  <a href={href(`/webhooks/deliveries/${d.id}`)}>{d.eventType}</a>
                </td>
                <td>{names.get(d.endpointId) ?? d.endpointId}</td>
                <td>
                  <DeliveryStatus status={d.status} />{' '}
                  {d.lastStatusCode !== null ? <code class="code">{d.lastStatusCode}</code> : null}
                </td>
                <td>{d.attemptCount}</td>
                <td>{formatTime(d.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </LoadedView>
      <Pager
        current={before}
        next={loaded.data?.nextBefore}
        go={(b) => navigate('/webhooks/deliveries', { status, endpoint, before: b })}
      />
    </Screen>
  );
}

type DeliveryWithAttempts = Delivery & { attempts: DeliveryAttempt[] };

/**
 * `#/webhooks/deliveries/:id`: one delivery with every attempt, and replay. While it is not
 * final it follows `GET /api/deliveries/:id/events`, so a retry or a replay shows as it happens.
 */
export function DeliveryDetail({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const path = `/api/deliveries/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => get<DeliveryWithAttempts>(path), [id]);
  const [live, setLive] = useState<DeliveryWithAttempts>();
  // A load (at first, or after a replay) replaces the stream's view until its next push.
  useEffect(() => setLive(undefined), [loaded.data]);
  const d = live ?? loaded.data;
  const stream = useEventStream<DeliveryWithAttempts>(`${path}/events`, 'delivery', setLive, {
    enabled: d !== undefined && !FINAL.has(d.status),
  });
  const names = useEndpointNames();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [replayed, setReplayed] = useState(false);
  const replay = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await call('POST', `${path}/replay`);
      setReplayed(true);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Screen
      title={d ? t('webhooks.delivery.title', { type: d.eventType }) : t('webhooks.deliveries')}
      actions={<a href={href('/webhooks/deliveries')}>{t('app.back')}</a>}
    >
      <Reconnecting down={stream.down} />
      <LoadedView loaded={{ ...loaded, data: d }}>
        {(d) => (
          <>
            <Facts
              testid="delivery"
              facts={[
                [t('webhooks.delivery.status'), <DeliveryStatus status={d.status} />, 'delivery-status'],
                [
                  t('webhooks.delivery.endpoint'),
                  <a href={href(`/webhooks/${d.endpointId}`)}>{names.get(d.endpointId) ?? d.endpointId}</a>,
                ],
                [t('webhooks.delivery.webhookId'), <code class="code">{d.eventId}</code>],
                [t('webhooks.delivery.created'), formatTime(d.createdAt)],
                d.nextAttemptAt ? [t('webhooks.delivery.next'), formatTime(d.nextAttemptAt)] : null,
                d.finishedAt ? [t('webhooks.delivery.finished'), formatTime(d.finishedAt)] : null,
                d.lastError
                  ? [
                      t('webhooks.delivery.lastError'),
                      <>
                        <code class="code">{d.lastError.code}</code> {d.lastError.message}
                      </>,
                    ]
                  : null,
              ]}
            />
            {canChange && REPLAYABLE.has(d.status) ? (
              <div class="ops-actions">
                <button type="button" class="primary" disabled={busy} onClick={replay}>
                  {t('webhooks.delivery.replay')}
                </button>
              </div>
            ) : null}
            {error ? <ErrorNote error={error} /> : null}
            {replayed ? (
              <p class="note" role="status">
                {t('webhooks.delivery.replayed')}
              </p>
            ) : null}
            <h2>{t('webhooks.delivery.attemptsTitle')}</h2>
            <AttemptList attempts={d.attempts} />
          </>
        )}
      </LoadedView>
    </Screen>
  );
}

function AttemptList({ attempts }: { attempts: DeliveryAttempt[] }) {
  const { t, formatTime } = useI18n();
  if (attempts.length === 0) return <p class="muted">{t('app.none')}</p>;
  return (
    <DataTable
      testid="delivery-attempts"
      columns={[
        t('webhooks.attempt.number'),
        t('webhooks.attempt.outcome'),
        t('webhooks.attempt.status'),
        t('webhooks.attempt.time'),
        t('webhooks.attempt.latency'),
        t('webhooks.attempt.error'),
      ]}
      rows={attempts}
      row={(a) => (
        <tr key={a.number}>
          <td>{a.number}</td>
          <td>
            <StatusBadge status={a.outcome} label={t(`webhooks.attempt.${a.outcome}` as MessageKey)} />
          </td>
          <td>{a.statusCode ?? ''}</td>
          <td>{formatTime(a.startedAt)}</td>
          <td>{a.latencyMs === null ? '' : `${a.latencyMs} ms`}</td>
          <td>
            {a.errorCode ? <code class="code">{a.errorCode}</code> : null}
            {a.errorMessage ?? ''}
            {a.responseBody ? (
              <details>
                <summary>{t('webhooks.responseBody')}</summary>
                <pre class="ops-pre">{a.responseBody}</pre>
              </details>
            ) : null}
          </td>
        </tr>
      )}
    />
  );
}
