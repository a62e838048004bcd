import { useEffect, useState } from 'preact/hooks';
import { useI18n } from '../i18n/index.js';

/**
 * Pieces shared by the inbound and webhooks screens: a delete that asks first and a Server-Sent
 * Events stream followed live (the field errors are `Field` and `FieldError` in common.tsx).
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
