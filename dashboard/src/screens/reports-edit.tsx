import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, Field, fieldsOf } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { type Report, reportPath } from './reports-parts.js';

/** Addresses typed one per line or separated by commas. */
export const addresses = (value: string) =>
  value
    .split(/[\n,]/)
    .map((a) => a.trim())
    .filter(Boolean);

/**
 * An operator's form for an existing report: recipients, subject, templates and schedule,
 * sent as one PATCH of the fields that changed; the API's problems show under their fields.
 */
export function ReportEdit({
  report,
  onSaved,
  onCancel,
}: {
  report: Report;
  onSaved: (report: Report) => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const [values, setValues] = useState<ReportFieldValues>(() => ({
    to: report.to.join('\n'),
    cc: report.cc.join('\n'),
    subject: report.subject,
    cron: report.schedule?.cron ?? '',
    timezone: report.schedule?.timezone ?? 'UTC',
    text: report.text ?? '',
    html: report.html ?? '',
  }));
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();

  const changes = (): Record<string, unknown> => {
    const { to, cc, subject, cron, timezone, text, html } = values;
    const body: Record<string, unknown> = {};
    const same = (a: string[], b: string[]) => a.join('\n') === b.join('\n');
    if (!same(addresses(to), report.to)) body.to = addresses(to);
    if (!same(addresses(cc), report.cc)) body.cc = addresses(cc);
    if (subject !== report.subject) body.subject = subject;
    if (text !== (report.text ?? '') && text !== '') body.text = text;
    if (html !== (report.html ?? '') && html !== '') body.html = html;
    const before = report.schedule;
    if (!cron.trim()) {
      if (before) body.schedule = null;
    } else if (!before || before.cron !== cron.trim() || before.timezone !== timezone.trim()) {
      body.schedule = {
        cron: cron.trim(),
        timezone: timezone.trim() || 'UTC',
        ...(before ? { misfireGrace: before.misfireGrace } : {}),
        ...(before?.deadline ? { deadline: before.deadline } : {}),
      };
    }
    return body;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setFailure(undefined);
    const body = changes();
    if (Object.keys(body).length === 0) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      onSaved(await call<Report>('PATCH', reportPath(report.id), { body }));
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card report-form" onSubmit={submit} aria-labelledby="report-edit-title" noValidate>
      <h2 id="report-edit-title">{t('reports.edit.title')}</h2>
      <ReportFields values={values} onChange={setValues} failure={failure} />
      <p class="muted help">{t('reports.edit.templatesHelp')}</p>
      {failure ? <ErrorNote error={failure} /> : null}
      <div class="row-actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('reports.edit.save')}
        </button>
        <button type="button" disabled={busy} onClick={onCancel}>
          {t('reports.edit.cancel')}
        </button>
      </div>
    </form>
  );
}

/** What the report forms type: recipients as typed, subject, schedule and templates. */
export interface ReportFieldValues {
  to: string;
  cc: string;
  subject: string;
  cron: string;
  timezone: string;
  text: string;
  html: string;
}

/**
 * The fields the new-report and edit forms share (recipients, subject, schedule, templates),
 * each with the API's problems of its field under it.
 */
export function ReportFields({
  values,
  onChange,
  failure,
}: {
  values: ReportFieldValues;
  onChange: (update: (values: ReportFieldValues) => ReportFieldValues) => void;
  failure: unknown;
}) {
  const { t } = useI18n();
  const set = (name: keyof ReportFieldValues) => (event: { currentTarget: { value: string } }) => {
    const value = event.currentTarget.value;
    onChange((before) => ({ ...before, [name]: value }));
  };
  const field = fieldsOf(failure);
  const toField = field('report-to', 'to');
  const ccField = field('report-cc', 'cc');
  const subjectField = field('report-subject', 'subject');
  const cronField = field('report-cron', 'schedule.cron', 'data.type');
  const zoneField = field('report-timezone', 'schedule.timezone');
  const textField = field('report-text', 'text');
  const htmlField = field('report-html', 'html');

  return (
    <>
      <Field label={t('reports.edit.to')} field={toField}>
        <textarea {...toField.attrs} class="data-field short" value={values.to} onInput={set('to')} />
      </Field>
      <Field label={t('reports.edit.cc')} field={ccField}>
        <textarea {...ccField.attrs} class="data-field short" value={values.cc} onInput={set('cc')} />
      </Field>
      <Field label={t('reports.edit.subject')} field={subjectField}>
        <input {...subjectField.attrs} value={values.subject} onInput={set('subject')} />
      </Field>
      <div class="report-form-pair">
        <div>
          <Field label={t('reports.edit.cron')} field={cronField}>
            <input
              {...cronField.attrs}
              spellcheck={false}
              placeholder="0 19 * * *"
              value={values.cron}
              onInput={set('cron')}
            />
          </Field>
        </div>
        <div>
          <Field label={t('reports.edit.timezone')} field={zoneField}>
            <input
              {...zoneField.attrs}
              spellcheck={false}
              value={values.timezone}
              onInput={set('timezone')}
            />
          </Field>
        </div>
      </div>
      <p class="muted help">{t('reports.edit.cronHelp')}</p>
      <Field label={t('reports.edit.text')} field={textField}>
        <textarea
          {...textField.attrs}
          class="data-field"
          spellcheck={false}
          value={values.text}
          onInput={set('text')}
        />
      </Field>
      <Field label={t('reports.edit.html')} field={htmlField}>
        <textarea
          {...htmlField.attrs}
          class="data-field"
          spellcheck={false}
          value={values.html}
          onInput={set('html')}
        />
      </Field>
    </>
  );
}
