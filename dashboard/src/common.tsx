import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { type MessageKey, useI18n } from './i18n/index.js';

/** A failure shown to the user: the API's message, with its code for a bug report. */
export function ErrorNote({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { t } = useI18n();
  const apiError = error instanceof ApiError ? error : undefined;
  const message = apiError?.message ?? (error instanceof Error ? error.message : String(error));
  return (
    <div class="note note-error" role="alert">
      <p>
        <strong>{t('app.error')}</strong>
        {apiError ? <code class="code">{apiError.code}</code> : null} {message}
      </p>
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          {t('app.retry')}
        </button>
      ) : null}
    </div>
  );
}

/** `ok`, `degraded` or `down` (and message statuses), in words and colour. */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return <span class={`badge badge-${status}`}>{label ?? status}</span>;
}

/** The translated word for a readiness state. */
export function statusKey(status: string): MessageKey {
  return status === 'ok' || status === 'degraded' || status === 'down'
    ? (`status.${status}` as MessageKey)
    : 'status.down';
}

/** The state of a load: its data, its failure, and how to run it again. */
export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; keeps the last data while reloading. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => current && setState((s) => ({ ...s, error, loading: false })),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

/** A screen's frame: its heading (focused on arrival, for screen readers) and its content. */
export function Screen({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${title} · Facteur`;
  }, [title]);
  return (
    <section class="screen" aria-labelledby="screen-title">
      <header class="screen-head">
        <h1 id="screen-title" tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div class="screen-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

/** "Loading…" while nothing is there yet. */
export function Loading() {
  const { t } = useI18n();
  return (
    <p class="muted" aria-live="polite">
      {t('app.loading')}
    </p>
  );
}
