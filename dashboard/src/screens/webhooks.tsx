import '../operations.css';
import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { Deliveries, DeliveryDetail, WebhookTabs } from './webhooks-deliveries.js';

/** An endpoint as `GET /api/endpoints` shows it (the fields the screens use). */
export interface Endpoint {
  id: string;
  status: 'active' | 'paused' | 'disabled';
  name: string;
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

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

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
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.endpoints.length === 0 ? (
        <p class="muted">{t('webhooks.noEndpoints')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="endpoints">
            <thead>
              <tr>
                <th scope="col">{t('webhooks.name')}</th>
                <th scope="col">{t('webhooks.url')}</th>
                <th scope="col">{t('webhooks.state')}</th>
                <th scope="col">{t('webhooks.events')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.endpoints.map((e) => (
                <tr key={e.id}>
                  <td>
                    <a href={href(`/webhooks/${e.id}`)}>{e.name}</a>
                  </td>
                  <td>
                    <code class="code ops-secret">{e.url}</code>
                  </td>
                  <td>
                    <EndpointState endpoint={e} />
                  </td>
                  <td>{e.eventTypes.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canChange ? <CreateEndpoint onCreated={loaded.reload} /> : null}
    </Screen>
  );
}

function CreateEndpoint({ onCreated }: { onCreated: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<Endpoint>();
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const endpoint = await call<Endpoint>('POST', '/api/endpoints', { body: { name, url } });
      setCreated(endpoint);
      setName('');
      setUrl('');
      onCreated();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="endpoint-create-title">
      <h2 id="endpoint-create-title">{t('webhooks.create.title')}</h2>
      <label for="endpoint-name">{t('webhooks.name')}</label>
      <input
        id="endpoint-name"
        required
        maxLength={100}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="endpoint-url">{t('webhooks.url')}</label>
      <input
        id="endpoint-url"
        required
        inputMode="url"
        placeholder="https://example.org/hooks/facteur"
        value={url}
        onInput={(e) => setUrl(e.currentTarget.value)}
      />
      <p class="muted">{t('webhooks.create.hint')}</p>
      {error ? <ErrorNote error={error} /> : null}
      <button type="submit" class="primary" disabled={busy}>
        {t('webhooks.create.submit')}
      </button>
      {created ? (
        <div class="note" role="status">
          <p>{t('webhooks.create.done', { name: created.name })}</p>
          <SecretOnce secret={created.secret} />
          <p>
            <a href={href(`/webhooks/${created.id}`)}>{t('webhooks.open', { name: created.name })}</a>
          </p>
        </div>
      ) : null}
    </form>
  );
}

/** A full secret, shown this once. */
function SecretOnce({ secret }: { secret: string }) {
  const { t } = useI18n();
  return (
    <>
      <p>
        <strong>{t('webhooks.secret.once')}</strong>
      </p>
      <p>
        <code class="code ops-secret" data-testid="new-secret">
          {secret}
        </code>
      </p>
    </>
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
  return (
    <Screen
      title={e ? e.name : t('webhooks.title')}
      actions={<a href={href('/webhooks')}>{t('app.back')}</a>}
    >
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!e ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <dl class="facts" data-testid="endpoint">
            <dt>{t('webhooks.state')}</dt>
            <dd>
              <EndpointState endpoint={e} />
              {e.disabledReason ? <span> {e.disabledReason}</span> : null}
            </dd>
            <dt>{t('webhooks.url')}</dt>
            <dd>
              <code class="code">{e.url}</code>
            </dd>
            <dt>{t('webhooks.events')}</dt>
            <dd>{e.eventTypes.join(', ')}</dd>
            <dt>{t('webhooks.format')}</dt>
            <dd>
              {e.format} · {e.payloadShape} · {e.successRule}
            </dd>
            <dt>{t('webhooks.window')}</dt>
            <dd data-testid="endpoint-window">
              {e.timeWindow
                ? t('webhooks.window.between', { start: e.timeWindow.start, end: e.timeWindow.end })
                : t('webhooks.window.always')}{' '}
              ({e.timeZone})
            </dd>
            <dt>{t('webhooks.absence')}</dt>
            <dd data-testid="endpoint-absence">
              {e.absenceWeekdays.length === 0
                ? t('webhooks.absence.none')
                : e.absenceWeekdays.map((d) => t(`webhooks.day.${d}` as MessageKey)).join(', ')}
            </dd>
            <dt>{t('webhooks.retries')}</dt>
            <dd>{e.retrySchedule.length === 0 ? t('webhooks.retries.none') : e.retrySchedule.join(', ')}</dd>
            <dt>{t('webhooks.timeout')}</dt>
            <dd>{e.timeout}</dd>
            <dt>{t('webhooks.disableAfter')}</dt>
            <dd>{e.disableAfter}</dd>
            <dt>{t('webhooks.secret')}</dt>
            <dd>
              <code class="code">{e.secret}</code>
              {e.previousSecretsExpireAt ? (
                <span class="muted">
                  {' '}
                  {t('webhooks.secret.overlap', { time: formatTime(e.previousSecretsExpireAt) })}
                </span>
              ) : null}
            </dd>
            <dt>{t('webhooks.updated')}</dt>
            <dd>{formatTime(e.updatedAt)}</dd>
          </dl>
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
        </>
      )}
    </Screen>
  );
}

interface TestAnswer {
  dryRun?: boolean;
  request: { method: string; url: string; format: string; headers: Record<string, string>; body: string };
  response?: {
    ok: boolean;
    statusCode: number | null;
    latencyMs: number | null;
    body: string | null;
    error: { code: string; message: string } | null;
  };
}

function TestResult({ answer }: { answer: TestAnswer }) {
  const { t } = useI18n();
  const r = answer.response;
  return (
    <section class="card" aria-labelledby="test-title" data-testid="test-result">
      <h2 id="test-title">{answer.dryRun ? t('webhooks.dryRun.title') : t('webhooks.test.title')}</h2>
      {r ? (
        <p role="status">
          <StatusBadge
            status={r.ok ? 'succeeded' : 'failed'}
            label={r.ok ? t('webhooks.test.ok') : t('webhooks.test.failed')}
          />{' '}
          {r.statusCode !== null ? <code class="code">{r.statusCode}</code> : null}
          {r.latencyMs !== null ? `${r.latencyMs} ms ` : ''}
          {r.error ? `${r.error.code}: ${r.error.message}` : ''}
        </p>
      ) : (
        <p role="status">{t('webhooks.dryRun.notSent')}</p>
      )}
      <pre class="ops-pre">
        {`${answer.request.method} ${answer.request.url}\n`}
        {Object.entries(answer.request.headers)
          .map(([name, value]) => `${name}: ${value}`)
          .join('\n')}
        {`\n\n${answer.request.body}`}
      </pre>
      {r?.body ? (
        <details>
          <summary>{t('webhooks.responseBody')}</summary>
          <pre class="ops-pre">{r.body}</pre>
        </details>
      ) : null}
    </section>
  );
}

/** The delivery window, absence days, time zone and retries of an endpoint. */
function ScheduleForm({ endpoint, onSaved }: { endpoint: Endpoint; onSaved: () => void }) {
  const { t } = useI18n();
  const [start, setStart] = useState(endpoint.timeWindow?.start ?? '');
  const [end, setEnd] = useState(endpoint.timeWindow?.end ?? '');
  const [days, setDays] = useState<string[]>(endpoint.absenceWeekdays);
  const [zone, setZone] = useState(endpoint.timeZone);
  const [retries, setRetries] = useState(endpoint.retrySchedule.join(', '));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await call('PATCH', `/api/endpoints/${encodeURIComponent(endpoint.id)}`, {
        body: {
          timeWindow: start || end ? { start, end } : null,
          absenceWeekdays: days,
          timeZone: zone,
          retrySchedule: retries
            .split(/[,\s]+/)
            .map((s) => s.trim())
            .filter(Boolean),
        },
      });
      setSaved(true);
      onSaved();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="schedule-title">
      <h2 id="schedule-title">{t('webhooks.schedule.title')}</h2>
      <p class="muted">{t('webhooks.schedule.hint')}</p>
      <div class="ops-form">
        <label for="window-start">{t('webhooks.window.start')}</label>
        <input
          id="window-start"
          placeholder="09:00"
          value={start}
          onInput={(e) => setStart(e.currentTarget.value)}
        />
        <label for="window-end">{t('webhooks.window.end')}</label>
        <input
          id="window-end"
          placeholder="18:00"
          value={end}
          onInput={(e) => setEnd(e.currentTarget.value)}
        />
        <label for="window-zone">{t('webhooks.timeZone')}</label>
        <input id="window-zone" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
        <fieldset class="ops-days ops-wide">
          <legend>{t('webhooks.absence')}</legend>
          {WEEKDAYS.map((day) => (
            <label key={day}>
              <input
                type="checkbox"
                checked={days.includes(day)}
                onChange={(e) =>
                  setDays((now) =>
                    e.currentTarget.checked ? [...now, day] : now.filter((other) => other !== day),
                  )
                }
              />
              {t(`webhooks.day.${day}` as MessageKey)}
            </label>
          ))}
        </fieldset>
        <label for="retry-schedule">{t('webhooks.retries')}</label>
        <input
          id="retry-schedule"
          placeholder="5s, 5m, 30m"
          value={retries}
          onInput={(e) => setRetries(e.currentTarget.value)}
        />
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {saved ? (
        <p class="note" role="status">
          {t('webhooks.schedule.saved')}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {t('webhooks.schedule.submit')}
      </button>
    </form>
  );
}
