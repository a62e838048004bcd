import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { Pager } from './mail-parts.js';
import type { Endpoint } from './webhooks.js';

const STATUSES = ['pending', 'held', 'delivering', 'succeeded', 'failed', 'dead'] as const;
const REPLAYABLE = new Set(['succeeded', 'failed', 'dead']);
/** Still moving: the screen looks again shortly. */
const MOVING = new Set(['pending', 'delivering']);

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
      <div class="toolbar">
        <label for="delivery-status">{t('webhooks.delivery.filter')}</label>
        <select
          id="delivery-status"
          value={status}
          onChange={(e) => navigate('/webhooks/deliveries', { status: e.currentTarget.value, endpoint })}
        >
          <option value="">{t('webhooks.delivery.all')}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`webhooks.delivery.${s}` as MessageKey)}
            </option>
          ))}
        </select>
        {endpoint ? (
          <a href={href('/webhooks/deliveries', { status })}>
            {t('webhooks.delivery.allEndpoints', { name: names.get(endpoint) ?? endpoint })}
          </a>
        ) : null}
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.deliveries.length === 0 ? (
        <p class="muted">{t('webhooks.delivery.none')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="deliveries">
            <thead>
              <tr>
                <th scope="col">{t('webhooks.delivery.event')}</th>
                <th scope="col">{t('webhooks.delivery.endpoint')}</th>
                <th scope="col">{t('webhooks.delivery.status')}</th>
                <th scope="col">{t('webhooks.delivery.attempts')}</th>
                <th scope="col">{t('webhooks.delivery.created')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.deliveries.map((d) => (
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
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        before={before}
        next={loaded.data?.nextBefore ?? null}
        go={(b) => navigate('/webhooks/deliveries', { status, endpoint, before: b })}
      />
    </Screen>
  );
}

/** `#/webhooks/deliveries/:id`: one delivery with every attempt, and replay. */
export function DeliveryDetail({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const path = `/api/deliveries/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => get<Delivery & { attempts: DeliveryAttempt[] }>(path), [id]);
  const names = useEndpointNames();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [replayed, setReplayed] = useState(false);
  const d = loaded.data;
  // A delivery on its way is looked at again each second, so the replay's outcome shows.
  useEffect(() => {
    if (!d || !MOVING.has(d.status)) return;
    const timer = setTimeout(loaded.reload, 1000);
    return () => clearTimeout(timer);
  }, [d]);
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
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!d ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <dl class="facts" data-testid="delivery">
            <dt>{t('webhooks.delivery.status')}</dt>
            <dd data-testid="delivery-status">
              <DeliveryStatus status={d.status} />
            </dd>
            <dt>{t('webhooks.delivery.endpoint')}</dt>
            <dd>
              <a href={href(`/webhooks/${d.endpointId}`)}>{names.get(d.endpointId) ?? d.endpointId}</a>
            </dd>
            <dt>{t('webhooks.delivery.webhookId')}</dt>
            <dd>
              <code class="code">{d.eventId}</code>
            </dd>
            <dt>{t('webhooks.delivery.created')}</dt>
            <dd>{formatTime(d.createdAt)}</dd>
            {d.nextAttemptAt ? (
              <>
                <dt>{t('webhooks.delivery.next')}</dt>
                <dd>{formatTime(d.nextAttemptAt)}</dd>
              </>
            ) : null}
            {d.finishedAt ? (
              <>
                <dt>{t('webhooks.delivery.finished')}</dt>
                <dd>{formatTime(d.finishedAt)}</dd>
              </>
            ) : null}
            {d.lastError ? (
              <>
                <dt>{t('webhooks.delivery.lastError')}</dt>
                <dd>
                  <code class="code">{d.lastError.code}</code> {d.lastError.message}
                </dd>
              </>
            ) : null}
          </dl>
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
          {d.attempts.length === 0 ? (
            <p class="muted">{t('app.none')}</p>
          ) : (
            <div class="table-wrap">
              <table data-testid="delivery-attempts">
                <thead>
                  <tr>
                    <th scope="col">{t('webhooks.attempt.number')}</th>
                    <th scope="col">{t('webhooks.attempt.outcome')}</th>
                    <th scope="col">{t('webhooks.attempt.status')}</th>
                    <th scope="col">{t('webhooks.attempt.time')}</th>
                    <th scope="col">{t('webhooks.attempt.latency')}</th>
                    <th scope="col">{t('webhooks.attempt.error')}</th>
                  </tr>
                </thead>
                <tbody>
                  {d.attempts.map((a) => (
                    <tr key={a.number}>
                      <td>{a.number}</td>
                      <td>
                        <StatusBadge
                          status={a.outcome}
                          label={t(`webhooks.attempt.${a.outcome}` as MessageKey)}
                        />
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
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Screen>
  );
}
