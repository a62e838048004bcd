import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, Facts, LoadedView, Screen, StatusBadge, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { ReportEdit } from './reports-edit.js';
import { CreatedToken, NewReport, takeCreatedToken } from './reports-new.js';
import { FINAL, type Report, type Run, reportPath, scheduleWords } from './reports-parts.js';
import { RunCard, TryReport } from './reports-run.js';
import '../settings.css';

/**
 * `#/reports` (every report), `#/reports/new` (an operator defines one) and `#/reports/:id`
 * (one report, its runs, preview and run now).
 */
export function Reports({ route }: { route: Route }) {
  const id = route.parts[1];
  if (id === 'new') return <NewReport />;
  return id ? <ReportDetail key={id} id={id} /> : <ReportList />;
}

/** The schedule in words (the cron expression itself when it has no simple wording). */
function useSchedule() {
  const { t, lang } = useI18n();
  return (report: Report) => {
    if (!report.schedule) return t('reports.onTrigger');
    const { cron, timezone } = report.schedule;
    const words = scheduleWords(cron, t, lang);
    return words
      ? t('reports.scheduleWords', { words, cron, timezone })
      : t('reports.scheduleText', { cron, timezone });
  };
}

function ReportList() {
  const { t, formatTime } = useI18n();
  const operator = useRoleAtLeast('operator');
  const schedule = useSchedule();
  const loaded = useLoad(() => get<{ reports: Report[] }>('/api/reports'), []);
  return (
    <Screen
      title={t('reports.title')}
      actions={
        <>
          {operator ? (
            <a class="report-new-action" href={href('/reports/new')}>
              {t('reports.new')}
            </a>
          ) : null}
          <button type="button" onClick={loaded.reload}>
            {t('app.refresh')}
          </button>
        </>
      }
    >
      <p class="muted">{t('reports.intro')}</p>
      <LoadedView loaded={loaded} isEmpty={(data) => data.reports.length === 0} empty={t('reports.empty')}>
        {(data) => (
          <DataTable
            testid="reports"
            columns={[
              t('reports.name'),
              t('reports.schedule'),
              t('reports.nextRun'),
              t('reports.state'),
              t('reports.source'),
            ]}
            rows={data.reports}
            row={(report) => (
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
            )}
          />
        )}
      </LoadedView>
    </Screen>
  );
}

function ReportDetail({ id }: { id: string }) {
  const { t } = useI18n();
  const operator = useRoleAtLeast('operator');
  const path = reportPath(id);
  const loaded = useLoad(() => get<Report>(path), [id]);
  const runs = useLoad(() => get<{ runs: Run[]; next: string | null }>(`${path}/runs`, { limit: 20 }), [id]);
  const [failure, setFailure] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(false);
  // The trigger token of a report just created from the form, shown this once.
  const [createdToken] = useState(() => takeCreatedToken(id));

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
      <LoadedView loaded={loaded}>
        {(report) => (
          <>
            {createdToken ? <CreatedToken token={createdToken} /> : null}
            <Definition report={report} />
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
                  {editing ? null : (
                    <button
                      type="button"
                      onClick={() => {
                        setNotice(undefined);
                        setEditing(true);
                      }}
                    >
                      {t('reports.edit.open')}
                    </button>
                  )}
                </div>
                {editing ? (
                  <ReportEdit
                    report={report}
                    onCancel={() => setEditing(false)}
                    onSaved={() => {
                      setEditing(false);
                      setNotice(t('reports.edit.saved'));
                      loaded.reload();
                    }}
                  />
                ) : null}
                <TryReport path={path} onStarted={runs.reload} />
              </>
            ) : (
              <p class="muted">{t('reports.viewer')}</p>
            )}
          </>
        )}
      </LoadedView>
      <h2 id="runs-title">{t('reports.runs')}</h2>
      <LoadedView loaded={runs} isEmpty={(data) => data.runs.length === 0} empty={t('reports.noRuns')}>
        {(data) => (
          <div data-testid="runs">
            {data.runs.map((run) => (
              <RunCard key={run.id} run={run} />
            ))}
          </div>
        )}
      </LoadedView>
    </Screen>
  );
}

/** Everything the report is: state, schedule, recipients, data source (no secrets) and templates. */
function Definition({ report }: { report: Report }) {
  const { t, formatTime } = useI18n();
  const schedule = useSchedule();
  const data = report.data;
  const list = (values: string[]) => (values.length > 0 ? values.join(', ') : null);
  return (
    <>
      <Facts
        testid="report"
        facts={[
          report.description ? [t('reports.description'), report.description] : null,
          [t('reports.state'), <StatusBadge status={report.status} label={t(`reports.${report.status}`)} />],
          [t('reports.schedule'), schedule(report)],
          [t('reports.nextRun'), report.nextRunAt ? formatTime(report.nextRunAt) : t('reports.none')],
          report.schedule ? [t('reports.misfireGrace'), report.schedule.misfireGrace] : null,
          report.schedule?.deadline ? [t('reports.deadline'), report.schedule.deadline] : null,
          [t('reports.source'), <code class="code">{data.type}</code>],
          data.type === 'http' ? [t('reports.sourceUrl'), <code class="code">{data.url}</code>] : null,
          data.type === 'http' && Object.keys(data.headers).length > 0
            ? [t('reports.sourceHeaders'), Object.keys(data.headers).join(', ')]
            : null,
          data.type === 'http' && data.bearerToken
            ? [t('reports.sourceToken'), t('reports.secretSet')]
            : null,
          data.type === 'sql' ? [t('reports.sourceUrl'), <code class="code">{data.url}</code>] : null,
          data.type === 'sql' ? [t('reports.sourceQuery'), <pre class="raw">{data.query}</pre>] : null,
          data.type === 'http' || data.type === 'sql'
            ? [
                t('reports.sourceLimits'),
                t('reports.sourceLimitsText', { timeout: data.timeout, retries: data.retries }),
              ]
            : null,
          [t('reports.to'), report.to.join(', ')],
          list(report.cc) ? [t('reports.cc'), list(report.cc)] : null,
          list(report.bcc) ? [t('reports.bcc'), list(report.bcc)] : null,
          report.from ? [t('reports.from'), report.from] : null,
          report.replyTo ? [t('reports.replyTo'), report.replyTo] : null,
          [t('reports.subject'), <code class="code">{report.subject}</code>],
          report.attachCsv
            ? [
                t('reports.attachCsv'),
                t('reports.attachCsvText', {
                  filename: report.attachCsv.filename,
                  rows: report.attachCsv.rows,
                }),
              ]
            : null,
          report.pingUrl ? [t('reports.ping'), <code class="code">{report.pingUrl}</code>] : null,
          report.secretsProblem ? [t('reports.secretsProblem'), report.secretsProblem] : null,
        ]}
      />
      {report.text !== null || report.html !== null ? (
        <details class="templates" data-testid="templates">
          <summary>{t('reports.templates')}</summary>
          {report.text !== null ? (
            <>
              <h3 class="help">{t('reports.previewText')}</h3>
              <pre class="raw">{report.text}</pre>
            </>
          ) : null}
          {report.html !== null ? (
            <>
              <h3 class="help">{t('reports.previewHtml')}</h3>
              <pre class="raw">{report.html}</pre>
            </>
          ) : null}
        </details>
      ) : null}
    </>
  );
}
