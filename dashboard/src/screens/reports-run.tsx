import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { DataTable, ErrorNote, Facts, StatusBadge } from '../common.js';
import { en as STATUS_KEYS } from '../i18n/areas/reports.js';
import { useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import { type Preview, type Run, statusLabel } from './reports-parts.js';

/** The longest data the preview frame's URL carries (the API's limit on `?data=`). */
const MAX_FRAME_DATA = 8000;

/** The data field, and the preview and run-now buttons. */
export function TryReport({ path, onStarted }: { path: string; onStarted: () => void }) {
  const { t } = useI18n();
  const [data, setData] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [preview, setPreview] = useState<{ preview: Preview; frame: string | null }>();
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
        const answer = await call<Preview>('POST', `${path}/preview`, { body: payload });
        // The frame renders the same data through GET .../preview.html, under its own CSP.
        const json = payload.data ? JSON.stringify(payload.data) : '';
        const frame =
          json.length > MAX_FRAME_DATA
            ? null
            : `${path}/preview.html${json ? `?data=${encodeURIComponent(json)}` : ''}`;
        setPreview({ preview: answer, frame });
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
      {preview ? <PreviewView preview={preview.preview} frame={preview.frame} /> : null}
    </section>
  );
}

/** A preview: its subject, the rendered body in a sandboxed frame, the text, and the sources. */
function PreviewView({ preview, frame }: { preview: Preview; frame: string | null }) {
  const { t } = useI18n();
  return (
    <div data-testid="preview">
      <h3>{t('reports.previewTitle')}</h3>
      <Facts facts={[[t('reports.previewSubject'), preview.subject]]} />
      {frame ? (
        <iframe
          class="rendered"
          title={t('reports.previewFrame')}
          sandbox=""
          referrerpolicy="no-referrer"
          src={frame}
        />
      ) : (
        <p class="muted">{t('reports.previewNoFrame')}</p>
      )}
      {preview.text !== null ? (
        <>
          <h4>{t('reports.previewText')}</h4>
          <pre class="raw">{preview.text}</pre>
        </>
      ) : null}
      {preview.html !== null ? (
        <details>
          <summary>{t('reports.previewHtmlSource')}</summary>
          <pre class="raw">{preview.html}</pre>
        </details>
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
  );
}

/** One run: its state, trigger, error, each stage, and its message. */
export function RunCard({ run }: { run: Run }) {
  const { t, formatTime } = useI18n();
  const label = (prefix: string, value: string) => statusLabel(t, STATUS_KEYS, prefix, value);
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
      <DataTable
        columns={[
          t('reports.stage'),
          t('reports.outcome'),
          t('reports.duration'),
          t('reports.attempts'),
          t('reports.error'),
          t('reports.hint'),
        ]}
        rows={run.stages}
        row={(stage) => (
          <tr key={stage.stage}>
            <th scope="row">{label('reports.stage', stage.stage)}</th>
            <td>
              <StatusBadge status={stage.outcome} label={label('reports.outcome', stage.outcome)} />
              {stage.retryAt ? (
                <span class="muted help"> {t('reports.retryAt', { time: formatTime(stage.retryAt) })}</span>
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
        )}
      />
      {run.messageId || run.smtpResponse ? (
        <Facts
          facts={[
            run.messageId
              ? [t('reports.message'), <a href={href(`/mail/${run.messageId}`)}>{run.messageId}</a>]
              : null,
            run.smtpResponse ? [t('reports.smtp'), run.smtpResponse] : null,
          ]}
        />
      ) : null}
    </article>
  );
}
