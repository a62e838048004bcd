import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { FieldError, fieldProblems, problemsOf } from './ops-parts.js';
import { type Report, reportPath } from './reports-parts.js';

/** Addresses typed one per line or separated by commas. */
const addresses = (value: string) =>
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
  const [to, setTo] = useState(report.to.join('\n'));
  const [cc, setCc] = useState(report.cc.join('\n'));
  const [subject, setSubject] = useState(report.subject);
  const [cron, setCron] = useState(report.schedule?.cron ?? '');
  const [timezone, setTimezone] = useState(report.schedule?.timezone ?? 'UTC');
  const [text, setText] = useState(report.text ?? '');
  const [html, setHtml] = useState(report.html ?? '');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();

  const changes = (): Record<string, unknown> => {
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

  const problems = fieldProblems(failure);
  const field = (id: string, ...names: string[]) => {
    const messages = names.flatMap((name) => problemsOf(problems, name));
    return {
      messages,
      attrs: {
        id,
        'aria-invalid': messages.length > 0 ? ('true' as const) : undefined,
        'aria-describedby': messages.length > 0 ? `${id}-error` : undefined,
      },
    };
  };
  const toField = field('report-to', 'to');
  const ccField = field('report-cc', 'cc');
  const subjectField = field('report-subject', 'subject');
  const cronField = field('report-cron', 'schedule.cron', 'data.type');
  const zoneField = field('report-timezone', 'schedule.timezone');
  const textField = field('report-text', 'text');
  const htmlField = field('report-html', 'html');

  return (
    <form class="card report-form" onSubmit={submit} aria-labelledby="report-edit-title" noValidate>
      <h2 id="report-edit-title">{t('reports.edit.title')}</h2>
      <label for="report-to">{t('reports.edit.to')}</label>
      <textarea
        {...toField.attrs}
        class="data-field short"
        value={to}
        onInput={(e) => setTo(e.currentTarget.value)}
      />
      <FieldError id="report-to" messages={toField.messages} />
      <label for="report-cc">{t('reports.edit.cc')}</label>
      <textarea
        {...ccField.attrs}
        class="data-field short"
        value={cc}
        onInput={(e) => setCc(e.currentTarget.value)}
      />
      <FieldError id="report-cc" messages={ccField.messages} />
      <label for="report-subject">{t('reports.edit.subject')}</label>
      <input {...subjectField.attrs} value={subject} onInput={(e) => setSubject(e.currentTarget.value)} />
      <FieldError id="report-subject" messages={subjectField.messages} />
      <div class="report-form-pair">
        <div>
          <label for="report-cron">{t('reports.edit.cron')}</label>
          <input
            {...cronField.attrs}
            spellcheck={false}
            placeholder="0 19 * * *"
            value={cron}
            onInput={(e) => setCron(e.currentTarget.value)}
          />
          <FieldError id="report-cron" messages={cronField.messages} />
        </div>
        <div>
          <label for="report-timezone">{t('reports.edit.timezone')}</label>
          <input
            {...zoneField.attrs}
            spellcheck={false}
            value={timezone}
            onInput={(e) => setTimezone(e.currentTarget.value)}
          />
          <FieldError id="report-timezone" messages={zoneField.messages} />
        </div>
      </div>
      <p class="muted help">{t('reports.edit.cronHelp')}</p>
      <label for="report-text">{t('reports.edit.text')}</label>
      <textarea
        {...textField.attrs}
        class="data-field"
        spellcheck={false}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <FieldError id="report-text" messages={textField.messages} />
      <label for="report-html">{t('reports.edit.html')}</label>
      <textarea
        {...htmlField.attrs}
        class="data-field"
        spellcheck={false}
        value={html}
        onInput={(e) => setHtml(e.currentTarget.value)}
      />
      <FieldError id="report-html" messages={htmlField.messages} />
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
