import { type ComponentChildren, Fragment } from 'preact';
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

/**
 * A load's three states in one place: its failure (with "Retry"), "Loading…" while nothing is
 * there yet, a muted line when the data is empty, else `children` with the data. The last data
 * stays on screen while a reload runs or after a reload fails.
 */
export function LoadedView<T>({
  loaded,
  isEmpty,
  empty,
  children,
}: {
  loaded: Pick<Loaded<T>, 'data' | 'error'> & { reload?: () => void };
  /** When the data counts as "nothing to show" (the default: never). */
  isEmpty?: (data: T) => boolean;
  /** What to say when empty (the default: "None yet."). */
  empty?: ComponentChildren;
  children: (data: T) => ComponentChildren;
}) {
  const { t } = useI18n();
  const { data, error, reload } = loaded;
  return (
    <>
      {error ? <ErrorNote error={error} onRetry={reload} /> : null}
      {data === undefined ? (
        error ? null : (
          <Loading />
        )
      ) : isEmpty?.(data) ? (
        <p class="muted">{empty ?? t('app.none')}</p>
      ) : (
        children(data)
      )}
    </>
  );
}

/**
 * One fact of a `<Facts>` list: its label and value (and optionally the `data-testid` of its
 * `<dd>`); `null`, `undefined` or `false` hide it.
 */
export type Fact =
  | [label: string, value: ComponentChildren]
  | [label: string, value: ComponentChildren, testid: string]
  | null
  | undefined
  | false;

/** A definition list of facts (`<dl class="facts">`), skipping the hidden ones. */
export function Facts({
  facts,
  testid,
  class: className,
}: {
  facts: Fact[];
  testid?: string;
  class?: string;
}) {
  return (
    <dl class={className ?? 'facts'} data-testid={testid}>
      {facts.map((fact) =>
        fact ? (
          <Fragment key={fact[0]}>
            <dt>{fact[0]}</dt>
            <dd data-testid={fact[2]}>{fact[1]}</dd>
          </Fragment>
        ) : null,
      )}
    </dl>
  );
}

/**
 * "Newest" and "Older" (or other labels) for a cursor-paged list: `current` is the cursor shown
 * now ("" on the first page), `next` the one after (null on the last page).
 */
export function Pager({
  current,
  next,
  go,
  firstLabel,
  nextLabel,
}: {
  current: string;
  next: string | null | undefined;
  go: (cursor: string | undefined) => void;
  firstLabel?: string;
  nextLabel?: string;
}) {
  const { t } = useI18n();
  if (!current && !next) return null;
  return (
    <div class="toolbar">
      {current ? (
        <button type="button" onClick={() => go(undefined)}>
          {firstLabel ?? t('app.newest')}
        </button>
      ) : null}
      {next ? (
        <button type="button" onClick={() => go(next)}>
          {nextLabel ?? t('app.older')}
        </button>
      ) : null}
    </div>
  );
}

/**
 * A list's toolbar: one labelled `<select>` filter ("all" first), then "Refresh", then any
 * further controls given as children.
 */
export function FilterBar({
  id,
  label,
  value,
  allLabel,
  options,
  onChange,
  onRefresh,
  children,
}: {
  id: string;
  label: string;
  value: string;
  allLabel: string;
  options: { value: string; label: string }[];
  onChange: (value: string) => void;
  onRefresh?: () => void;
  children?: ComponentChildren;
}) {
  const { t } = useI18n();
  return (
    <div class="toolbar">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">{allLabel}</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      {onRefresh ? (
        <button type="button" onClick={onRefresh}>
          {t('app.refresh')}
        </button>
      ) : null}
      {children}
    </div>
  );
}

/** A heading of a `<DataTable>`; `null`, `undefined` or `false` leaves its column out. */
export type Column = string | null | undefined | false;

/**
 * A list as a table that scrolls sideways on its own on a phone (`<div class="table-wrap">`):
 * one `<th scope="col">` a column, then `row(item)` (a `<tr>` with its `key`) for each item.
 * `children` come after the table, inside the wrap.
 */
export function DataTable<T>({
  testid,
  columns,
  rows,
  row,
  caption,
  class: className,
  label,
  labelledBy,
  children,
}: {
  testid?: string;
  columns: Column[];
  rows: readonly T[];
  row: (item: T, index: number) => ComponentChildren;
  caption?: ComponentChildren;
  class?: string;
  /** The table's `aria-label`. */
  label?: string;
  /** The table's `aria-labelledby`. */
  labelledBy?: string;
  children?: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class={className} data-testid={testid} aria-label={label} aria-labelledby={labelledBy}>
        {caption ? <caption>{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((column) =>
              column ? (
                <th scope="col" key={column}>
                  {column}
                </th>
              ) : null,
            )}
          </tr>
        </thead>
        <tbody>{rows.map((item, index) => row(item, index))}</tbody>
      </table>
      {children}
    </div>
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

/** One form control wired to the API's problems: its id, its messages, the attributes it spreads. */
export interface FieldState {
  id: string;
  messages: string[];
  attrs: { id: string; 'aria-invalid': 'true' | undefined; 'aria-describedby': string | undefined };
}

/**
 * For a form whose last failure is `error`: `field(id, ...names)` gives the control `id` the
 * problems of the API fields `names` (and of what is under them), marked invalid and described
 * by its `<FieldError>` when there are any.
 */
export function fieldsOf(error: unknown): (id: string, ...names: string[]) => FieldState {
  const problems = fieldProblems(error);
  return (id, ...names) => {
    const messages = names.flatMap((name) => problemsOf(problems, name));
    const invalid = messages.length > 0;
    return {
      id,
      messages,
      attrs: {
        id,
        'aria-invalid': invalid ? 'true' : undefined,
        'aria-describedby': invalid ? `${id}-error` : undefined,
      },
    };
  };
}

/**
 * A form field: its `<label>`, the control the caller writes as `children` (with `id`, or
 * spreading `field.attrs`), then its problems. `id` defaults to `field.id`, `messages` to
 * `field.messages`; `class` wraps the three in a `<div>` of that class.
 */
export function Field({
  label,
  field,
  id,
  messages,
  class: className,
  children,
}: {
  label: ComponentChildren;
  field?: FieldState;
  id?: string;
  messages?: string[];
  class?: string;
  children: ComponentChildren;
}) {
  const controlId = id ?? field?.id ?? '';
  const parts = (
    <>
      <label for={controlId}>{label}</label>
      {children}
      <FieldError id={controlId} messages={messages ?? field?.messages ?? []} />
    </>
  );
  return className ? <div class={className}>{parts}</div> : parts;
}
