import '../operations.css';
import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, Facts, LoadedView, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { ConfirmDelete } from './ops-parts.js';
import { Deliveries, DeliveryDetail, WebhookTabs } from './webhooks-deliveries.js';
import { EndpointForm, ReplaySince, SecretOnce } from './webhooks-endpoint-form.js';
import { ScheduleForm, type TestAnswer, TestResult } from './webhooks-endpoint-parts.js';

/** An endpoint as `GET /api/endpoints` shows it (the fields the screens use). */
export interface Endpoint {
  id: string;
  status: 'active' | 'paused' | 'disabled';
  name: string;
  description?: string;
  url: string;
  eventTypes: string[];
  format: string;
  payloadShape: string;
  successRule: string;
  timeout: string;
  retrySchedule: string[];
  concurrency: number;
  timeWindow: { start: string; end: string } | null;
  absenceWeekdays: string[];
  timeZone: string;
  disableAfter: string;
  secret: string;
  previousSecretsExpireAt: string | null;
  failingSince: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** `#/webhooks` (endpoints), `#/webhooks/:id`, `#/webhooks/deliveries` and `#/webhooks/deliveries/:id`. */
export function Webhooks({ route }: { route: Route }) {
  const [, first, second] = route.parts;
  if (first === 'deliveries') return second ? <DeliveryDetail id={second} /> : <Deliveries route={route} />;
  if (first) return <EndpointDetail id={first} />;
  return <Endpoints />;
}

/** The endpoint's state in words: active, paused, disabled, or failing since a time. */
export function EndpointState({ endpoint }: { endpoint: Endpoint }) {
  const { t, formatTime } = useI18n();
  return (
    <>
      <StatusBadge status={endpoint.status} label={t(`webhooks.status.${endpoint.status}` as MessageKey)} />
      {endpoint.failingSince ? (
        <span class="muted"> {t('webhooks.failingSince', { time: formatTime(endpoint.failingSince) })}</span>
      ) : null}
    </>
  );
}

function Endpoints() {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const loaded = useLoad(() => get<{ endpoints: Endpoint[] }>('/api/endpoints'), []);
  return (
    <Screen title={t('webhooks.title')}>
      <WebhookTabs current="endpoints" />
      <div class="toolbar">
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      <LoadedView
        loaded={loaded}
        isEmpty={(data) => data.endpoints.length === 0}
        empty={t('webhooks.noEndpoints')}
      >
        {(data) => (
          <DataTable
            testid="endpoints"
            columns={[t('webhooks.name'), t('webhooks.url'), t('webhooks.state'), t('webhooks.events')]}
            rows={data.endpoints}
            row={(e) => (
              <tr key={e.id}>
                <td>
                  <a href={href(`/webhooks/${e.id}`)}>{e.name}</a>
                  {e.description ? <div class="muted">{e.description}</div> : null}
                </td>
                <td>
                  <code class="code ops-secret">{e.url}</code>
                </td>
                <td>
                  <EndpointState endpoint={e} />
                </td>
                <td>{e.eventTypes.join(', ')}</td>
              </tr>
            )}
          />
        )}
      </LoadedView>
      {canChange ? <EndpointForm onSaved={loaded.reload} /> : null}
    </Screen>
  );
}

function EndpointDetail({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const path = `/api/endpoints/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => get<Endpoint>(path), [id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [secret, setSecret] = useState<{ secret: string; previousSecretExpiresAt: string }>();
  const [test, setTest] = useState<TestAnswer>();
  const e = loaded.data;
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const setStatus = (action: 'pause' | 'resume') =>
    run(async () => {
      await call<Endpoint>('POST', `${path}/${action}`);
      loaded.reload();
    });
  const rotate = () =>
    run(async () => {
      setSecret(await call('POST', `${path}/rotate-secret`, { body: {} }));
      loaded.reload();
    });
  const sendTest = (dryRun: boolean) =>
    run(async () => {
      setTest(undefined);
      setTest({ ...(await call<TestAnswer>('POST', `${path}/test`, { body: { dryRun } })), dryRun });
    });
  const remove = () =>
    run(async () => {
      await call('DELETE', path);
      navigate('/webhooks');
    });
  return (
    <Screen
      title={e ? e.name : t('webhooks.title')}
      actions={<a href={href('/webhooks')}>{t('app.back')}</a>}
    >
      <LoadedView loaded={loaded}>
        {(e) => (
          <>
            <Facts
              testid="endpoint"
              facts={[
                [
                  t('webhooks.state'),
                  <>
                    <EndpointState endpoint={e} />
                    {e.disabledReason ? <span> {e.disabledReason}</span> : null}
                  </>,
                ],
                e.description ? [t('webhooks.description'), e.description] : null,
                [t('webhooks.url'), <code class="code">{e.url}</code>],
                [t('webhooks.events'), e.eventTypes.join(', ')],
                [t('webhooks.format'), `${e.format} · ${e.payloadShape} · ${e.successRule}`],
                [
                  t('webhooks.window'),
                  <>
                    {e.timeWindow
                      ? t('webhooks.window.between', { start: e.timeWindow.start, end: e.timeWindow.end })
                      : t('webhooks.window.always')}{' '}
                    ({e.timeZone})
                  </>,
                  'endpoint-window',
                ],
                [
                  t('webhooks.absence'),
                  e.absenceWeekdays.length === 0
                    ? t('webhooks.absence.none')
                    : e.absenceWeekdays.map((d) => t(`webhooks.day.${d}` as MessageKey)).join(', '),
                  'endpoint-absence',
                ],
                [
                  t('webhooks.retries'),
                  e.retrySchedule.length === 0 ? t('webhooks.retries.none') : e.retrySchedule.join(', '),
                ],
                [t('webhooks.timeout'), e.timeout],
                [t('webhooks.disableAfter'), e.disableAfter],
                [
                  t('webhooks.secret'),
                  <>
                    <code class="code">{e.secret}</code>
                    {e.previousSecretsExpireAt ? (
                      <span class="muted">
                        {' '}
                        {t('webhooks.secret.overlap', { time: formatTime(e.previousSecretsExpireAt) })}
                      </span>
                    ) : null}
                  </>,
                ],
                [t('webhooks.updated'), formatTime(e.updatedAt)],
              ]}
            />
            <p>
              <a href={href('/webhooks/deliveries', { endpoint: e.id })}>{t('webhooks.deliveriesOf')}</a>
            </p>
            {canChange ? (
              <div class="ops-actions">
                {e.status === 'active' ? (
                  <button type="button" disabled={busy} onClick={() => setStatus('pause')}>
                    {t('webhooks.pause')}
                  </button>
                ) : (
                  <button type="button" disabled={busy} onClick={() => setStatus('resume')}>
                    {t('webhooks.resume')}
                  </button>
                )}
                <button type="button" disabled={busy} onClick={rotate}>
                  {t('webhooks.rotate')}
                </button>
                <button type="button" disabled={busy} onClick={() => sendTest(false)}>
                  {t('webhooks.test')}
                </button>
                <button type="button" disabled={busy} onClick={() => sendTest(true)}>
                  {t('webhooks.dryRun')}
                </button>
                <ConfirmDelete name={e.name} busy={busy} onConfirm={remove} />
              </div>
            ) : null}
            {error ? <ErrorNote error={error} /> : null}
            {secret ? (
              <div class="note" role="status">
                <SecretOnce secret={secret.secret} />
                <p>
                  {t('webhooks.secret.previousUntil', { time: formatTime(secret.previousSecretExpiresAt) })}
                </p>
              </div>
            ) : null}
            {test ? <TestResult answer={test} /> : null}
            {canChange ? <ScheduleForm endpoint={e} onSaved={loaded.reload} /> : null}
            {canChange ? <EndpointForm key={e.id} endpoint={e} onSaved={loaded.reload} /> : null}
            {canChange ? <ReplaySince endpoint={e} onReplayed={loaded.reload} /> : null}
          </>
        )}
      </LoadedView>
    </Screen>
  );
}
