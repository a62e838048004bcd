import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, LoadedView, Screen, StatusBadge, statusKey, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import type { Activity, DeliveryList, MessageList, Readiness, ReadinessCheck } from '../types.js';
import { ActivityCharts } from './charts.js';

const REFRESH_MS = 15_000;
const WINDOWS = ['1h', '24h'] as const;
type Span = (typeof WINDOWS)[number];

/**
 * What `/readyz` and the lists of failures give: each dependency with its latency, the job
 * queue, recent failures; and the activity charts of the last hour or day.
 */
export function Overview() {
  const { t, formatTime } = useI18n();
  const [span, setSpan] = useState<Span>('1h');
  const loaded = useLoad(async () => {
    const [ready, failed, dead] = await Promise.all([
      call<Readiness>('GET', '/readyz', { accept: [503] }),
      get<MessageList>('/api/messages', { status: 'failed', limit: 10 }),
      get<DeliveryList>('/api/deliveries', { status: 'dead', limit: 10 }),
    ]);
    return { ready, failed, dead, at: new Date().toISOString() };
  }, []);
  const activity = useLoad(() => get<Activity>('/api/stats/activity', { window: span }), [span]);
  const { reload } = loaded;
  const reloadActivity = activity.reload;
  useEffect(() => {
    const timer = setInterval(() => {
      reload();
      reloadActivity();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload, reloadActivity]);

  const refresh = (
    <button
      type="button"
      onClick={() => {
        reload();
        reloadActivity();
      }}
      disabled={loaded.loading}
    >
      {t('app.refresh')}
    </button>
  );
  return (
    <Screen title={t('overview.title')} actions={refresh}>
      <LoadedView loaded={loaded}>
        {(data) => (
          <p class="overall">
            <StatusBadge
              status={data.ready.status}
              label={t('overview.status', { status: t(statusKey(data.ready.status)) })}
            />{' '}
            <span class="muted">{t('overview.updated', { time: formatTime(data.at) })}</span>
          </p>
        )}
      </LoadedView>
      <section aria-labelledby="activity-title">
        <div class="toolbar activity-head">
          <h2 id="activity-title">{t('overview.activity')}</h2>
          <fieldset class="window-switch">
            <legend class="visually-hidden">{t('overview.window')}</legend>
            {WINDOWS.map((w) => (
              <button
                key={w}
                type="button"
                aria-pressed={w === span}
                title={t(`overview.window.${w}` as MessageKey)}
                onClick={() => setSpan(w)}
              >
                {t(`overview.window.short.${w}` as MessageKey)}
              </button>
            ))}
          </fieldset>
        </div>
        <LoadedView loaded={activity}>{(data) => <ActivityCharts activity={data} />}</LoadedView>
      </section>
      {loaded.data ? <Details data={loaded.data} /> : null}
    </Screen>
  );
}

function Details({ data }: { data: { ready: Readiness; failed: MessageList; dead: DeliveryList } }) {
  const { t, formatTime } = useI18n();
  return (
    <>
      <Checks ready={data.ready} />
      <DependencyLatency ready={data.ready} />
      <Jobs ready={data.ready} />
      <h2>{t('overview.failedMessages')}</h2>
      {data.failed.messages.length === 0 ? (
        <p class="muted">{t('app.none')}</p>
      ) : (
        <ul class="list" data-testid="failed-messages">
          {data.failed.messages.map((m) => (
            <li key={m.id}>
              <a href={href(`/mail/${m.id}`)}>{m.subject || t('mail.noSubject')}</a>{' '}
              <span class="muted">
                {m.to.join(', ')} · {formatTime(m.updatedAt)}
              </span>
              {m.lastError ? (
                <div>
                  <code class="code">{m.lastError.code}</code> {m.lastError.message}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      <h2>{t('overview.deadDeliveries')}</h2>
      {data.dead.deliveries.length === 0 ? (
        <p class="muted">{t('app.none')}</p>
      ) : (
        <ul class="list">
          {data.dead.deliveries.map((d) => (
            <li key={d.id}>
              <code class="code">{d.eventType}</code> <span class="muted">{formatTime(d.updatedAt)}</span>
              {d.lastError ? (
                <div>
                  <code class="code">{d.lastError.code}</code> {d.lastError.message}
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Checks({ ready }: { ready: Readiness }) {
  const { t, formatTime } = useI18n();
  return (
    <>
      <h2>{t('overview.checks')}</h2>
      <DataTable
        testid="checks"
        columns={[
          t('overview.check'),
          t('overview.state'),
          t('overview.message'),
          t('overview.lastError'),
          t('overview.lastSuccess'),
        ]}
        rows={Object.entries(ready.checks)}
        row={([name, check]) => (
          <tr key={name}>
            <th scope="row">
              {name}
              {check.critical ? <span class="muted"> ({t('overview.critical')})</span> : null}
            </th>
            <td>
              <StatusBadge status={check.status} label={t(statusKey(check.status))} />
            </td>
            <td>{check.message ?? ''}</td>
            <td>
              <LastError check={check} />
            </td>
            <td>{formatTime(check.lastSuccessAt)}</td>
          </tr>
        )}
      />
    </>
  );
}

function LastError({ check }: { check: ReadinessCheck }) {
  const { formatTime } = useI18n();
  if (!check.lastError) return null;
  return (
    <>
      {check.lastError.message} <span class="muted">{formatTime(check.lastError.at)}</span>
    </>
  );
}

/** The latency figures `/readyz` reports in a check's `detail` (from the dependency monitor's window). */
interface Latency {
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  samples: number;
}

/** A check's breaker: its own (`transport:*`), or an endpoint's from the `webhooks` check. */
function breakerOf(name: string, check: ReadinessCheck, ready: Readiness): string | undefined {
  const own = check.detail?.['breaker'];
  if (typeof own === 'string') return own;
  if (!name.startsWith('endpoint:')) return undefined;
  const endpoints = ready.checks['webhooks']?.detail?.['endpoints'] as
    | Record<string, { name?: string | null; breaker?: string }>
    | undefined;
  const endpointName = name.slice('endpoint:'.length);
  return Object.values(endpoints ?? {}).find((e) => e.name === endpointName)?.breaker;
}

/** Each dependency's latency percentiles, breaker state and last error, as `/readyz` reports them. */
function DependencyLatency({ ready }: { ready: Readiness }) {
  const { t } = useI18n();
  const ms = (value: number | null | undefined) =>
    value === null || value === undefined
      ? '–'
      : t('overview.ms', { value: value < 10 ? value.toFixed(1) : Math.round(value) });
  const rows = Object.entries(ready.checks).flatMap(([name, check]) => {
    const latency = check.detail?.['latency'] as Latency | undefined;
    return latency && typeof latency === 'object' ? [{ name, check, latency }] : [];
  });
  if (rows.length === 0) return null;
  return (
    <>
      <h2>{t('overview.dependencies')}</h2>
      <DataTable
        testid="dependency-latency"
        columns={[
          t('overview.dependency'),
          t('overview.p50'),
          t('overview.p95'),
          t('overview.p99'),
          t('overview.samples'),
          t('overview.breaker'),
          t('overview.lastError'),
        ]}
        rows={rows}
        row={({ name, check, latency }) => {
          const breaker = breakerOf(name, check, ready);
          const known = breaker === 'closed' || breaker === 'open' || breaker === 'half_open';
          return (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td>{ms(latency.p50Ms)}</td>
              <td>{ms(latency.p95Ms)}</td>
              <td>{ms(latency.p99Ms)}</td>
              <td>{latency.samples}</td>
              <td>
                {breaker ? (
                  <StatusBadge
                    status={breaker === 'closed' ? 'ok' : breaker === 'open' ? 'down' : 'degraded'}
                    label={known ? t(`overview.breaker.${breaker}` as MessageKey) : breaker}
                  />
                ) : (
                  ''
                )}
              </td>
              <td>
                <LastError check={check} />
              </td>
            </tr>
          );
        }}
      />
    </>
  );
}

function Jobs({ ready }: { ready: Readiness }) {
  const { t } = useI18n();
  const detail = ready.checks['jobs']?.detail as
    | { running?: number; queued?: number; oldestDueSeconds?: number }
    | undefined;
  if (!detail) return null;
  return (
    <>
      <h2>{t('overview.queues')}</h2>
      <dl class="figures" data-testid="jobs">
        <div>
          <dt>{t('overview.running')}</dt>
          <dd>{detail.running ?? 0}</dd>
        </div>
        <div>
          <dt>{t('overview.queued')}</dt>
          <dd>{detail.queued ?? 0}</dd>
        </div>
        <div>
          <dt>{t('overview.oldestDue')}</dt>
          <dd>{detail.oldestDueSeconds ?? 0}</dd>
        </div>
      </dl>
    </>
  );
}
