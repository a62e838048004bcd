import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { useI18n } from '../i18n/index.js';

/**
 * Pieces shared by the inbound and webhooks screens: a delete that asks first, the API's field
 * errors shown next to their field, and a Server-Sent Events stream followed live.
 */

/** A "Delete" button that asks "Delete X?" inline, with "Yes, delete" and "Keep". */
export function ConfirmDelete({
  name,
  busy,
  onConfirm,
  label,
}: {
  name: string;
  busy: boolean;
  onConfirm: () => void;
  label?: string;
}) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" disabled={busy} onClick={() => setAsking(true)}>
        {label ?? t('ops.delete')}
      </button>
    );
  }
  return (
    <span class="ops-confirm">
      <span>{t('ops.delete.ask', { name })}</span>
      <button
        type="button"
        class="primary"
        disabled={busy}
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {t('ops.delete.yes')}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {t('ops.delete.keep')}
      </button>
    </span>
  );
}

/** The API's problems by field (`details[].field`), for a VALIDATION_FAILED answer. */
export function fieldProblems(error: unknown): Map<string, string[]> {
  const problems = new Map<string, string[]>();
  if (!(error instanceof ApiError) || !Array.isArray(error.details)) return problems;
  for (const detail of error.details as Array<{ field?: unknown; message?: unknown }>) {
    if (typeof detail?.field !== 'string' || typeof detail.message !== 'string') continue;
    problems.set(detail.field, [...(problems.get(detail.field) ?? []), detail.message]);
  }
  return problems;
}

/** The messages of `field` and of anything under it (`folders[0]`, `auth.password`). */
export function problemsOf(problems: Map<string, string[]>, field: string): string[] {
  const found: string[] = [];
  for (const [name, messages] of problems) {
    if (name === field || name.startsWith(`${field}.`) || name.startsWith(`${field}[`)) {
      found.push(...messages.map((m) => (name === field ? m : `${name.slice(field.length)}: ${m}`)));
    }
  }
  return found;
}

/** A field's problems under it, referenced by the field's `aria-describedby` (`<id>-error`). */
export function FieldError({ id, messages }: { id: string; messages: string[] }) {
  if (messages.length === 0) return null;
  return (
    <p id={`${id}-error`} class="ops-field-error ops-wide" data-testid={`${id}-error`}>
      {messages.join(' · ')}
    </p>
  );
}

/**
 * Follows a Server-Sent Events stream of `url` while `enabled`: the data of each `event` is
 * handed to `onView`; `down` is true while the connection is lost (EventSource reconnects by
 * itself); `end` closes it for good and calls `onEnd`.
 */
export function useEventStream<T>(
  url: string,
  event: string,
  onView: (view: T) => void,
  options: { enabled?: boolean; onEnd?: () => void } = {},
): { down: boolean } {
  const [down, setDown] = useState(false);
  const enabled = options.enabled ?? true;
  useEffect(() => {
    if (!enabled || typeof EventSource === 'undefined') return;
    const source = new EventSource(url);
    source.addEventListener(event, (message) => {
      setDown(false);
      onView(JSON.parse((message as MessageEvent<string>).data) as T);
    });
    source.addEventListener('end', () => {
      source.close();
      setDown(false);
      options.onEnd?.();
    });
    source.onopen = () => setDown(false);
    source.onerror = () => setDown(source.readyState !== EventSource.OPEN);
    return () => source.close();
  }, [url, event, enabled]);
  return { down };
}

/** "Reconnecting…" while a live stream is down. */
export function Reconnecting({ down }: { down: boolean }) {
  const { t } = useI18n();
  if (!down) return null;
  return (
    <p class="muted" role="status" data-testid="reconnecting">
      {t('ops.reconnecting')}
    </p>
  );
}
