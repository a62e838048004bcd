import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { en as STATUS_KEYS } from '../i18n/areas/reports.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import '../settings.css';

interface Report {
  id: string;
  name: string;
  status: 'active' | 'paused';
  description: string | null;
  schedule: { cron: string; timezone: string; misfireGrace: string; deadline: string | null } | null;
  nextRunAt: string | null;
  to: string[];
  subject: string;
  data: { type: string };
}

interface Stage {
  stage: string;
  outcome: string;
  startedAt: string | null;
  ms: number | null;
  attempts: number;
  errorCode: string | null;
  message: string | null;
  hint: string | null;
  retryAt: string | null;
}

interface Run {
  id: string;
  trigger: 'schedule' | 'manual';
  scheduledFor: string | null;
  status: string;
  stages: Stage[];
  messageId: string | null;
  smtpResponse: string | null;
  error: { code: string; message: string | null } | null;
  note: string | null;
  createdAt: string;
  finishedAt: string | null;
}

interface Preview {
  subject: string;
  html: string | null;
  text: string | null;
  attachment: { filename: string; bytes: number; content: string } | null;
}

const FINAL = new Set(['sent', 'failed', 'missed']);

/** `#/reports` (every report) and `#/reports/:id` (one report, its runs, preview and run now). */
export function Reports({ route }: { route: Route }) {
  const id = route.parts[1];
  return id ? <ReportDetail id={id} /> : <ReportList />;
}

function useSchedule() {
  const { t } = useI18n();
  return (report: Report) =>
    report.schedule
      ? t('reports.scheduleText', { cron: report.schedule.cron, timezone: report.schedule.timezone })
      : t('reports.onTrigger');
}

function ReportList() {
  const { t, formatTime } = useI18n();
  const schedule = useSchedule();
  const loaded = useLoad(() => get<{ reports: Report[] }>('/api/reports'), []);
  return (
    <Screen
      title={t('reports.title')}
      actions={
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      }
    >
      <p class="muted">{t('reports.intro')}</p>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.reports.length === 0 ? (
        <p class="muted">{t('reports.empty')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="reports">
            <thead>
              <tr>
                <th scope="col">{t('reports.name')}</th>
                <th scope="col">{t('reports.schedule')}</th>
                <th scope="col">{t('reports.nextRun')}</th>
                <th scope="col">{t('reports.state')}</th>
                <th scope="col">{t('reports.source')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.reports.map((report) => (
                <tr key={report.id}>
                  <th scope="row">
                    <a href={href(`/reports/${report.id}`)}>{report.name}</a>
                  </th>
                  <td>{schedule(report)}</td>
                  <td>{report.nextRunAt ? formatTime(report.nextRunAt) : t('reports.none')}</td>
                  <td>
                    <StatusBadge status={report.status} label={t(`reports.${report.status}`)} />
                  </td>
                  <td>
                    <code class="code">{report.data.type}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Screen>
  );
}

function ReportDetail({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const schedule = useSchedule();
  const operator = useRoleAtLeast('operator');
  const path = `/api/reports/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => get<Report>(path), [id]);
  const runs = useLoad(() => get<{ runs: Run[]; next: string | null }>(`${path}/runs`, { limit: 20 }), [id]);
  const [failure, setFailure] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);

  // While a run is under way, follow it.
  const unfinished = runs.data?.runs.some((run) => !FINAL.has(run.status)) ?? false;
  useEffect(() => {
    if (!unfinished) return;
    const timer = setTimeout(runs.reload, 1000);
    return () => clearTimeout(timer);
  }, [unfinished, runs.data]);

  const setStatus = async (action: 'pause' | 'resume') => {
    setBusy(true);
    setFailure(undefined);
    setNotice(undefined);
    try {
      await call('POST', `${path}/${action}`);
      setNotice(action === 'pause' ? t('reports.pausedNote') : t('reports.resumedNote'));
      loaded.reload();
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  const report = loaded.data;
  return (
    <Screen
      title={report ? report.name : t('reports.title')}
      actions={<a href={href('/reports')}>{t('app.back')}</a>}
    >
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!report ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <dl class="facts" data-testid="report">
            {report.description ? (
              <>
                <dt>{t('reports.description')}</dt>
                <dd>{report.description}</dd>
              </>
            ) : null}
            <dt>{t('reports.state')}</dt>
            <dd>
              <StatusBadge status={report.status} label={t(`reports.${report.status}`)} />
            </dd>
            <dt>{t('reports.schedule')}</dt>
            <dd>{schedule(report)}</dd>
            <dt>{t('reports.nextRun')}</dt>
            <dd>{report.nextRunAt ? formatTime(report.nextRunAt) : t('reports.none')}</dd>
            {report.schedule?.deadline ? (
              <>
                <dt>{t('reports.deadline')}</dt>
                <dd>{report.schedule.deadline}</dd>
              </>
            ) : null}
            <dt>{t('reports.source')}</dt>
            <dd>
              <code class="code">{report.data.type}</code>
            </dd>
            <dt>{t('reports.to')}</dt>
            <dd>{report.to.join(', ')}</dd>
            <dt>{t('reports.subject')}</dt>
            <dd>
              <code class="code">{report.subject}</code>
            </dd>
          </dl>
          {failure ? <ErrorNote error={failure} /> : null}
          {notice ? (
            <p class="note" role="status">
              {notice}
            </p>
          ) : null}
          {operator ? (
            <>
              <div class="toolbar">
                {report.status === 'active' ? (
                  <button type="button" disabled={busy} onClick={() => setStatus('pause')}>
                    {t('reports.pause')}
                  </button>
                ) : (
                  <button type="button" disabled={busy} onClick={() => setStatus('resume')}>
                    {t('reports.resume')}
                  </button>
                )}
              </div>
              <TryReport path={path} onStarted={runs.reload} />
            </>
          ) : (
            <p class="muted">{t('reports.viewer')}</p>
          )}
        </>
      )}
      <h2 id="runs-title">{t('reports.runs')}</h2>
      {runs.error ? <ErrorNote error={runs.error} onRetry={runs.reload} /> : null}
      {!runs.data ? (
        runs.error ? null : (
          <Loading />
        )
      ) : runs.data.runs.length === 0 ? (
        <p class="muted">{t('reports.noRuns')}</p>
      ) : (
        <div data-testid="runs">
          {runs.data.runs.map((run) => (
            <RunCard key={run.id} run={run} />
          ))}
        </div>
      )}
    </Screen>
  );
}

/** The data field, and the preview and run-now buttons. */
function TryReport({ path, onStarted }: { path: string; onStarted: () => void }) {
  const { t } = useI18n();
  const [data, setData] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [preview, setPreview] = useState<Preview>();
  const [started, setStarted] = useState<string>();

  /** The body with the data, or undefined when the field is not a JSON object. */
  const body = (): { data?: Record<string, unknown> } | undefined => {
    if (!data.trim()) return {};
    try {
      const parsed: unknown = JSON.parse(data);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return { data: parsed as Record<string, unknown> };
    } catch {
      // shown below
    }
    setFailure(new Error(t('reports.dataInvalid')));
    return undefined;
  };

  const act = async (what: 'preview' | 'run') => {
    setFailure(undefined);
    setStarted(undefined);
    const payload = body();
    if (!payload) return;
    setBusy(true);
    try {
      if (what === 'preview') {
        setPreview(await call<Preview>('POST', `${path}/preview`, { body: payload }));
      } else {
        const run = await call<{ id: string }>('POST', `${path}/runs`, { body: payload });
        setStarted(run.id);
        onStarted();
      }
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="try-title">
      <h2 id="try-title">{t('reports.try')}</h2>
      <label for="report-data">{t('reports.data')}</label>
      <textarea
        id="report-data"
        class="data-field"
        spellcheck={false}
        aria-describedby="report-data-help"
        value={data}
        onInput={(e) => setData(e.currentTarget.value)}
      />
      <p id="report-data-help" class="muted help">
        {t('reports.dataHelp')}
      </p>
      {failure ? <ErrorNote error={failure} /> : null}
      {started ? (
        <p class="note" role="status">
          {t('reports.started', { id: started })}
        </p>
      ) : null}
      <div class="row-actions">
        <button type="button" disabled={busy} onClick={() => act('preview')}>
          {t('reports.preview')}
        </button>
        <button type="button" class="primary" disabled={busy} onClick={() => act('run')}>
          {t('reports.runNow')}
        </button>
      </div>
      {preview ? (
        <div data-testid="preview">
          <h3>{t('reports.previewTitle')}</h3>
          <dl class="facts">
            <dt>{t('reports.previewSubject')}</dt>
            <dd>{preview.subject}</dd>
          </dl>
          {preview.text !== null ? (
            <>
              <h4>{t('reports.previewText')}</h4>
              <pre class="raw">{preview.text}</pre>
            </>
          ) : null}
          {preview.html !== null ? (
            <>
              <h4>{t('reports.previewHtml')}</h4>
              <pre class="raw">{preview.html}</pre>
            </>
          ) : null}
          {preview.attachment ? (
            <details>
              <summary>
                {t('reports.previewAttachment', {
                  filename: preview.attachment.filename,
                  bytes: preview.attachment.bytes,
                })}
              </summary>
              <pre class="raw">{preview.attachment.content}</pre>
            </details>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

function RunCard({ run }: { run: Run }) {
  const { t, formatTime } = useI18n();
  const label = (prefix: string, value: string) => {
    const key = `${prefix}.${value}` as MessageKey;
    return key in STATUS_KEYS ? t(key) : value;
  };
  return (
    <article class="card run" data-run={run.id} aria-labelledby={`run-${run.id}`}>
      <h3 id={`run-${run.id}`}>
        {t('reports.run', { time: formatTime(run.createdAt) })}{' '}
        <StatusBadge status={run.status} label={label('reports.status', run.status)} />
      </h3>
      <p class="muted help">
        {t(`reports.trigger.${run.trigger}`)}
        {run.scheduledFor ? ` · ${t('reports.scheduledFor', { time: formatTime(run.scheduledFor) })}` : ''}
      </p>
      {run.error ? (
        <p>
          <code class="code">{run.error.code}</code> {run.error.message ?? ''}
        </p>
      ) : null}
      {run.note ? <p>{run.note}</p> : null}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t('reports.stage')}</th>
              <th scope="col">{t('reports.outcome')}</th>
              <th scope="col">{t('reports.duration')}</th>
              <th scope="col">{t('reports.attempts')}</th>
              <th scope="col">{t('reports.error')}</th>
              <th scope="col">{t('reports.hint')}</th>
            </tr>
          </thead>
          <tbody>
            {run.stages.map((stage) => (
              <tr key={stage.stage}>
                <th scope="row">{label('reports.stage', stage.stage)}</th>
                <td>
                  <StatusBadge status={stage.outcome} label={label('reports.outcome', stage.outcome)} />
                  {stage.retryAt ? (
                    <span class="muted help">
                      {' '}
                      {t('reports.retryAt', { time: formatTime(stage.retryAt) })}
                    </span>
                  ) : null}
                </td>
                <td>{stage.ms === null ? '' : `${stage.ms} ms`}</td>
                <td>{stage.attempts}</td>
                <td>
                  {stage.errorCode ? <code class="code">{stage.errorCode}</code> : null}
                  {stage.message ?? ''}
                </td>
                <td>{stage.hint ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {run.messageId || run.smtpResponse ? (
        <dl class="facts">
          {run.messageId ? (
            <>
              <dt>{t('reports.message')}</dt>
              <dd>
                <a href={href(`/mail/${run.messageId}`)}>{run.messageId}</a>
              </dd>
            </>
          ) : null}
          {run.smtpResponse ? (
            <>
              <dt>{t('reports.smtp')}</dt>
              <dd>{run.smtpResponse}</dd>
            </>
          ) : null}
        </dl>
      ) : null}
    </article>
  );
}
