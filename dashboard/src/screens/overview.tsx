import { useEffect } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, statusKey, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import type { DeliveryList, MessageList, Readiness } from '../types.js';

const REFRESH_MS = 15_000;

/** What `/readyz` and the lists of failures give: each dependency, the job queue, recent failures. */
export function Overview() {
  const { t, formatTime } = useI18n();
  const loaded = useLoad(async () => {
    const [ready, failed, dead] = await Promise.all([
      call<Readiness>('GET', '/readyz', { accept: [503] }),
      get<MessageList>('/api/messages', { status: 'failed', limit: 10 }),
      get<DeliveryList>('/api/deliveries', { status: 'dead', limit: 10 }),
    ]);
    return { ready, failed, dead, at: new Date().toISOString() };
  }, []);
  const { reload } = loaded;
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const data = loaded.data;

  const refresh = (
    <button type="button" onClick={reload} disabled={loaded.loading}>
      {t('app.refresh')}
    </button>
  );
  return (
    <Screen title={t('overview.title')} actions={refresh}>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={reload} /> : null}
      {!data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <p class="overall">
            <StatusBadge
              status={data.ready.status}
              label={t('overview.status', { status: t(statusKey(data.ready.status)) })}
            />{' '}
            <span class="muted">{t('overview.updated', { time: formatTime(data.at) })}</span>
          </p>
          <Checks ready={data.ready} />
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
      )}
    </Screen>
  );
}

function Checks({ ready }: { ready: Readiness }) {
  const { t, formatTime } = useI18n();
  return (
    <>
      <h2>{t('overview.checks')}</h2>
      <div class="table-wrap">
        <table data-testid="checks">
          <thead>
            <tr>
              <th scope="col">{t('overview.check')}</th>
              <th scope="col">{t('overview.state')}</th>
              <th scope="col">{t('overview.message')}</th>
              <th scope="col">{t('overview.lastError')}</th>
              <th scope="col">{t('overview.lastSuccess')}</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(ready.checks).map(([name, check]) => (
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
                  {check.lastError ? (
                    <>
                      {check.lastError.message} <span class="muted">{formatTime(check.lastError.at)}</span>
                    </>
                  ) : (
                    ''
                  )}
                </td>
                <td>{formatTime(check.lastSuccessAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
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
