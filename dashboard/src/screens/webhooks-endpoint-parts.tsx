import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, StatusBadge } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import type { Endpoint } from './webhooks.js';

const WEEKDAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** What `POST /api/endpoints/:id/test` answers (and whether it was a dry run). */
export interface TestAnswer {
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

/** A test's request and, unless a dry run, the receiver's answer. */
export function TestResult({ answer }: { answer: TestAnswer }) {
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
export function ScheduleForm({ endpoint, onSaved }: { endpoint: Endpoint; onSaved: () => void }) {
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
