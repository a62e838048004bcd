import { useState } from 'preact/hooks';
import { Field } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import {
  type Attachment,
  base64Bytes,
  type CampaignContent,
  isoToLocal,
  localToIso,
  MAX_ATTACHMENT_BYTES,
} from './campaigns-api.js';

/**
 * The writing step of a campaign, shared by the new-campaign form and the edit screen: the
 * message (sender, subject, bodies, owner, attachments) and when it starts.
 */

/** What the writing step holds, as the form's fields. */
export interface Writing {
  from: string;
  replyTo: string;
  subject: string;
  text: string;
  html: string;
  ownerEmail: string;
  attachments: Attachment[];
  /** The `datetime-local` value of "Start at". */
  startAt: string;
}

export const EMPTY_WRITING: Writing = {
  from: '',
  replyTo: '',
  subject: '',
  text: '',
  html: '',
  ownerEmail: '',
  attachments: [],
  startAt: '',
};

/** The form's fields from a campaign's content (to edit it). */
export function writingOf(content: CampaignContent): Writing {
  return {
    from: content.from ?? '',
    replyTo: content.replyTo ?? '',
    subject: content.subject,
    text: content.text ?? '',
    html: content.html ?? '',
    ownerEmail: content.ownerEmail ?? '',
    attachments: content.attachments ?? [],
    startAt: content.startAt ? isoToLocal(content.startAt) : '',
  };
}

/**
 * The request fields of the message. For a create, empty fields are left out; for an edit
 * (`patch`), an empty field is `null`, which removes it.
 */
export function writingBody(w: Writing, patch: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { subject: w.subject };
  const optional = {
    from: w.from.trim(),
    replyTo: w.replyTo.trim(),
    ownerEmail: w.ownerEmail.trim(),
    text: w.text,
    html: w.html,
  };
  for (const [field, value] of Object.entries(optional)) {
    if (value) body[field] = value;
    else if (patch) body[field] = null;
  }
  if (w.attachments.length > 0) body.attachments = w.attachments;
  else if (patch) body.attachments = null;
  return body;
}

/** Which submit button was pressed: `draft`, `now` or `at` (data-start). */
export type StartChoice = 'draft' | 'now' | 'at';

export function startChoiceOf(event: Event): StartChoice {
  const choice = (event as SubmitEvent).submitter?.getAttribute('data-start');
  return choice === 'now' || choice === 'at' ? choice : 'draft';
}

/**
 * The `start` of the request for a choice: undefined for a draft, `now`, or the chosen local
 * time as an ISO time; throws the form's message for a missing or past time.
 */
export function startOf(
  choice: StartChoice,
  w: Writing,
  t: (key: MessageKey) => string,
  now = Date.now(),
): string | undefined {
  if (choice === 'draft') return undefined;
  if (choice === 'now') return 'now';
  const iso = localToIso(w.startAt);
  if (!iso) throw new Error(t('campaigns.when.needTime'));
  if (Date.parse(iso) <= now) throw new Error(t('campaigns.when.past'));
  return iso;
}

/** The message fieldset: sender, subject, bodies, owner, attachments. */
export function WritingStep({ value, onChange }: { value: Writing; onChange: (next: Writing) => void }) {
  const { t } = useI18n();
  const set = (field: keyof Writing) => (e: { currentTarget: { value: string } }) =>
    onChange({ ...value, [field]: e.currentTarget.value });
  return (
    <fieldset class="card">
      <legend>{t('campaigns.message')}</legend>
      <Field class="campaigns-field" id="campaign-from" label={t('campaigns.from')}>
        <input
          id="campaign-from"
          value={value.from}
          placeholder="Le club <club@example.org>"
          aria-describedby="campaign-from-hint"
          onInput={set('from')}
        />
        <p id="campaign-from-hint" class="muted">
          {t('campaigns.from.hint')}
        </p>
      </Field>
      <Field class="campaigns-field" id="campaign-reply-to" label={t('campaigns.replyTo')}>
        <input id="campaign-reply-to" value={value.replyTo} onInput={set('replyTo')} />
      </Field>
      <Field class="campaigns-field" id="campaign-subject" label={t('campaigns.subject')}>
        <input
          id="campaign-subject"
          required
          maxLength={998}
          value={value.subject}
          onInput={set('subject')}
        />
      </Field>
      <TemplateHint />
      <Field class="campaigns-field" id="campaign-text" label={t('campaigns.text')}>
        <textarea
          id="campaign-text"
          rows={8}
          value={value.text}
          aria-describedby="campaign-template-hint"
          onInput={set('text')}
        />
      </Field>
      <Field class="campaigns-field" id="campaign-html" label={t('campaigns.html')}>
        <textarea
          id="campaign-html"
          rows={8}
          value={value.html}
          aria-describedby="campaign-template-hint"
          onInput={set('html')}
        />
      </Field>
      <Attachments
        value={value.attachments}
        onChange={(attachments) => onChange({ ...value, attachments })}
      />
      <Field class="campaigns-field" id="campaign-owner" label={t('campaigns.ownerEmail')}>
        <input
          id="campaign-owner"
          type="email"
          value={value.ownerEmail}
          aria-describedby="campaign-owner-hint"
          onInput={set('ownerEmail')}
        />
        <p id="campaign-owner-hint" class="muted">
          {t('campaigns.ownerEmail.hint')}
        </p>
      </Field>
    </fieldset>
  );
}

/** What the templates can use. */
function TemplateHint() {
  const { t } = useI18n();
  const variables = ['name', 'email', 'unsubscribe_url', 'campaign.name', 'campaign.id'];
  return (
    <div id="campaign-template-hint" class="note">
      <p>{t('campaigns.hint.intro')}</p>
      <p>
        {variables.map((v) => (
          <code key={v} class="code">
            {`{{ ${v} }}`}
          </code>
        ))}
      </p>
      <p class="muted">{t('campaigns.hint.fields')}</p>
    </div>
  );
}

/** A file read as base64 (without the `data:` prefix). */
function readBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error ?? new Error(file.name));
    reader.readAsDataURL(file);
  });
}

/** Bytes in words: "12 KB", "1.5 MB". */
function size(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** Several files, each read as base64; the 10 MB total is checked as they are chosen. */
function Attachments({ value, onChange }: { value: Attachment[]; onChange: (next: Attachment[]) => void }) {
  const { t } = useI18n();
  const [problem, setProblem] = useState<string | undefined>();
  const total = value.reduce((sum, a) => sum + base64Bytes(a.content), 0);
  const add = async (input: HTMLInputElement) => {
    const files = [...(input.files ?? [])];
    input.value = '';
    setProblem(undefined);
    const added: Attachment[] = [];
    let bytes = total;
    for (const file of files) {
      bytes += file.size;
      if (bytes > MAX_ATTACHMENT_BYTES) {
        setProblem(t('campaigns.attachments.tooBig', { name: file.name }));
        break;
      }
      added.push({
        filename: file.name,
        contentType: /^[\w.+-]+\/[\w.+-]+$/.test(file.type) ? file.type : 'application/octet-stream',
        content: await readBase64(file),
      });
    }
    if (value.length + added.length > 10) {
      setProblem(t('campaigns.attachments.tooMany'));
      return;
    }
    if (added.length) onChange([...value, ...added]);
  };
  return (
    <Field class="campaigns-field" id="campaign-attachments" label={t('campaigns.attachments')}>
      <input
        id="campaign-attachments"
        type="file"
        multiple
        aria-describedby="campaign-attachments-hint"
        onChange={(e) => void add(e.currentTarget)}
      />
      <p id="campaign-attachments-hint" class="muted">
        {t('campaigns.attachments.hint', { used: size(total) })}
      </p>
      {problem ? (
        <p class="note note-error" role="alert">
          {problem}
        </p>
      ) : null}
      {value.length > 0 ? (
        <ul class="campaigns-attachments" data-testid="campaign-attachments">
          {value.map((a, i) => (
            <li key={`${i}-${a.filename}`}>
              <span>
                {a.filename} <span class="muted">({size(base64Bytes(a.content))})</span>
              </span>
              <button
                type="button"
                aria-label={t('campaigns.attachments.remove', { name: a.filename })}
                onClick={() => onChange(value.filter((_, k) => k !== i))}
              >
                {t('campaigns.attachments.removeShort')}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </Field>
  );
}

/** When it starts: save as a draft, start now, or start at a local date and time. */
export function WhenStep({
  value,
  onChange,
  busy,
}: {
  value: Writing;
  onChange: (next: Writing) => void;
  busy: boolean;
}) {
  const { t } = useI18n();
  return (
    <fieldset class="card campaigns-when">
      <legend>{t('campaigns.when')}</legend>
      <div class="toolbar">
        <button type="submit" class="primary" data-start="draft" disabled={busy}>
          {t('campaigns.saveDraft')}
        </button>
        <button type="submit" data-start="now" disabled={busy}>
          {t('campaigns.saveStart')}
        </button>
      </div>
      <p class="muted">{t('campaigns.saveDraft.hint')}</p>
      <Field class="campaigns-field" id="campaign-start-at" label={t('campaigns.when.at')}>
        <input
          id="campaign-start-at"
          type="datetime-local"
          value={value.startAt}
          aria-describedby="campaign-start-at-hint"
          onInput={(e) => onChange({ ...value, startAt: e.currentTarget.value })}
        />
        <p id="campaign-start-at-hint" class="muted">
          {t('campaigns.when.hint')}
        </p>
      </Field>
      <div class="toolbar">
        <button type="submit" data-start="at" disabled={busy}>
          {t('campaigns.when.schedule')}
        </button>
      </div>
    </fieldset>
  );
}
