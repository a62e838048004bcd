import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, Field, fieldsOf, Screen } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { addresses, ReportFields, type ReportFieldValues } from './reports-edit.js';
import type { Report } from './reports-parts.js';
import { SecretOnce } from './webhooks-endpoint-form.js';

/** The sources the form defines; `sql` is left to the API (its URL and query need care). */
const SOURCES = ['none', 'push', 'http'] as const;
type Source = (typeof SOURCES)[number];

/**
 * The trigger token of the report just created, handed from the form to the report's screen,
 * which takes it once: a reload or another visit no longer has it (the API shows it once).
 */
let created: { id: string; token: string } | undefined;

/** The trigger token of report `id` if it was just created here (once; undefined after). */
export function takeCreatedToken(id: string): string | undefined {
  if (!created || created.id !== id) return undefined;
  const { token } = created;
  created = undefined;
  return token;
}

/** The token of a report just created, shown this once on its screen. */
export function CreatedToken({ token }: { token: string }) {
  const { t } = useI18n();
  return (
    <div class="note" role="status" data-testid="report-created">
      <p>{t('reports.new.created')}</p>
      <SecretOnce secret={token} hint={t('reports.new.tokenOnce')} />
      <p class="muted help">{t('reports.new.tokenHelp')}</p>
    </div>
  );
}

/** `#/reports/new`: an operator defines a report; on success its screen opens. */
export function NewReport() {
  const { t } = useI18n();
  const operator = useRoleAtLeast('operator');
  return (
    <Screen title={t('reports.new.title')} actions={<a href={href('/reports')}>{t('app.back')}</a>}>
      {operator ? (
        <NewReportForm />
      ) : (
        <p class="note" role="status">
          {t('reports.new.viewer')}
        </p>
      )}
    </Screen>
  );
}

function NewReportForm() {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [values, setValues] = useState<ReportFieldValues>({
    to: '',
    cc: '',
    subject: '',
    cron: '',
    timezone: 'UTC',
    text: '',
    html: '',
  });
  const [source, setSource] = useState<Source>('none');
  const [url, setUrl] = useState('');
  const [token, setToken] = useState('');
  const [timeout, setTimeoutText] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();

  const body = (): Record<string, unknown> => {
    const { to, cc, subject, cron, timezone, text, html } = values;
    const data =
      source === 'http'
        ? {
            type: 'http',
            url: url.trim(),
            ...(token ? { bearerToken: token } : {}),
            ...(timeout.trim() ? { timeout: timeout.trim() } : {}),
          }
        : { type: source };
    return {
      name: name.trim(),
      ...(description.trim() ? { description: description.trim() } : {}),
      to: addresses(to),
      cc: addresses(cc),
      subject,
      ...(text !== '' ? { text } : {}),
      ...(html !== '' ? { html } : {}),
      schedule: cron.trim() ? { cron: cron.trim(), timezone: timezone.trim() || 'UTC' } : null,
      data,
    };
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setFailure(undefined);
    setBusy(true);
    try {
      const report = await call<Report & { triggerToken: string }>('POST', '/api/reports', { body: body() });
      created = report.triggerToken ? { id: report.id, token: report.triggerToken } : undefined;
      navigate(`/reports/${report.id}`);
    } catch (error) {
      setFailure(error);
      setBusy(false);
    }
  };

  const field = fieldsOf(failure);
  const nameField = field('report-name', 'name');
  const descriptionField = field('report-description', 'description');
  const sourceField = field('report-source');
  const urlField = field('report-url', 'data.url', 'data.headers');
  const tokenField = field('report-bearer', 'data.bearerToken');
  const timeoutField = field('report-fetch-timeout', 'data.timeout', 'data.retries');

  return (
    <form class="card report-form" onSubmit={submit} aria-labelledby="report-new-title" noValidate>
      <h2 id="report-new-title">{t('reports.new.formTitle')}</h2>
      <Field label={t('reports.new.name')} field={nameField}>
        <input
          {...nameField.attrs}
          maxLength={100}
          spellcheck={false}
          placeholder="daily-stats"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </Field>
      <Field label={t('reports.new.description')} field={descriptionField}>
        <input
          {...descriptionField.attrs}
          maxLength={500}
          value={description}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
      </Field>
      <ReportFields values={values} onChange={setValues} failure={failure} />
      <p class="muted help">{t('reports.new.templatesHelp')}</p>
      <Field label={t('reports.new.source')} field={sourceField}>
        <select
          {...sourceField.attrs}
          aria-describedby="report-source-help"
          value={source}
          onChange={(e) => setSource(e.currentTarget.value as Source)}
        >
          {SOURCES.map((s) => (
            <option key={s} value={s}>
              {t(`reports.new.source.${s}`)}
            </option>
          ))}
        </select>
      </Field>
      <p id="report-source-help" class="muted help">
        {t(`reports.new.sourceHelp.${source}`)} {t('reports.new.sqlHelp')}
      </p>
      {source === 'http' ? (
        <>
          <Field label={t('reports.new.url')} field={urlField}>
            <input
              {...urlField.attrs}
              type="url"
              spellcheck={false}
              placeholder="https://example.com/stats.json"
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          </Field>
          <div class="report-form-pair">
            <div>
              <Field label={t('reports.new.bearer')} field={tokenField}>
                <input
                  {...tokenField.attrs}
                  type="password"
                  autocomplete="new-password"
                  spellcheck={false}
                  value={token}
                  onInput={(e) => setToken(e.currentTarget.value)}
                />
              </Field>
            </div>
            <div>
              <Field label={t('reports.new.timeout')} field={timeoutField}>
                <input
                  {...timeoutField.attrs}
                  spellcheck={false}
                  placeholder="10s"
                  value={timeout}
                  onInput={(e) => setTimeoutText(e.currentTarget.value)}
                />
              </Field>
            </div>
          </div>
        </>
      ) : null}
      {failure ? <ErrorNote error={failure} /> : null}
      <div class="row-actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('reports.new.create')}
        </button>
        <a href={href('/reports')}>{t('reports.edit.cancel')}</a>
      </div>
    </form>
  );
}
