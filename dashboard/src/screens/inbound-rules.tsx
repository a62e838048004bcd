import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import type { BacktestResult } from './inbound.js';

/** A rule as `GET /api/rules` shows it: its settings, id, position and version. */
interface Rule {
  id: string;
  position: number;
  version: number;
  name: string;
  enabled: boolean;
  preset?: string;
  when: unknown;
  actions: Array<{ type: string; endpoints?: string[]; to?: string[]; tags?: string[] }>;
  stopProcessing: boolean;
  priority: string;
}

/** The fields of a rule one writes (what PATCH and the backtest take). */
function writable(rule: Rule): Record<string, unknown> {
  const { id: _id, position: _position, version: _version, ...rest } = rule;
  return rest;
}

/** Messages and rules, as tabs (links, so each has its address). */
export function InboundTabs({ current }: { current: 'messages' | 'rules' }) {
  const { t } = useI18n();
  return (
    <nav class="tabs" aria-label={t('inbound.title')}>
      <a href={href('/inbound')} aria-current={current === 'messages' ? 'page' : undefined}>
        {t('inbound.messages')}
      </a>
      <a href={href('/inbound/rules')} aria-current={current === 'rules' ? 'page' : undefined}>
        {t('inbound.rules')}
      </a>
    </nav>
  );
}

function actionSummary(rule: Rule): string {
  return rule.actions
    .map((a) =>
      a.type === 'webhook'
        ? `webhook → ${(a.endpoints ?? []).join(', ')}`
        : a.type === 'forward'
          ? `forward → ${(a.to ?? []).join(', ')}`
          : `tag ${(a.tags ?? []).join(', ')}`,
    )
    .join(' · ');
}

/** `#/inbound/rules`: the rules in the order they run, reordering, and a backtest of them all. */
export function Rules() {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const loaded = useLoad(() => get<{ rules: Rule[] }>('/api/rules'), []);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const rules = loaded.data?.rules ?? [];
  const move = async (index: number, by: -1 | 1) => {
    const ids = rules.map((r) => r.id);
    const [moved] = ids.splice(index, 1);
    if (moved === undefined) return;
    ids.splice(index + by, 0, moved);
    setBusy(true);
    setError(undefined);
    try {
      await call('PUT', '/api/rules/order', { body: { ids } });
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Screen title={t('inbound.rules.title')}>
      <InboundTabs current="rules" />
      <div class="toolbar">
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {error ? <ErrorNote error={error} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : rules.length === 0 ? (
        <p class="muted">{t('inbound.rules.none')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="rules">
            <thead>
              <tr>
                <th scope="col">{t('inbound.rule.position')}</th>
                <th scope="col">{t('inbound.rule.name')}</th>
                <th scope="col">{t('inbound.rule.actions')}</th>
                {canChange ? <th scope="col">{t('inbound.rule.order')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {rules.map((rule, index) => (
                <tr key={rule.id}>
                  <td>{index + 1}</td>
                  <td>
                    <a href={href(`/inbound/rules/${rule.id}`)}>{rule.name}</a>{' '}
                    {rule.enabled ? null : <StatusBadge status="paused" label={t('inbound.rule.disabled')} />}
                    {rule.stopProcessing ? <span class="muted"> {t('inbound.rule.stops')}</span> : null}
                  </td>
                  <td>{actionSummary(rule)}</td>
                  {canChange ? (
                    <td>
                      <button
                        type="button"
                        disabled={busy || index === 0}
                        aria-label={t('inbound.rule.up', { name: rule.name })}
                        onClick={() => move(index, -1)}
                      >
                        ↑
                      </button>{' '}
                      <button
                        type="button"
                        disabled={busy || index === rules.length - 1}
                        aria-label={t('inbound.rule.down', { name: rule.name })}
                        onClick={() => move(index, 1)}
                      >
                        ↓
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {canChange && loaded.data ? <Backtest candidate={() => undefined} /> : null}
    </Screen>
  );
}

/** `#/inbound/rules/:id`: one rule's settings as JSON, saved with PATCH, and backtested before. */
export function RuleEditor({ id }: { id: string }) {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const loaded = useLoad(() => get<{ rules: Rule[] }>('/api/rules'), [id]);
  const rule = loaded.data?.rules.find((r) => r.id === id);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (rule) setText(JSON.stringify(writable(rule), null, 2));
  }, [rule?.id, rule?.version]);
  /** The textarea's JSON, or an error naming the problem. */
  const parsed = (): Record<string, unknown> => {
    try {
      const value = JSON.parse(text) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch (failure) {
      throw new Error(t('inbound.rule.badJson', { message: (failure as Error).message }));
    }
  };
  const save = async (event: Event) => {
    event.preventDefault();
    if (!rule) return;
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await call('PATCH', `/api/rules/${encodeURIComponent(id)}`, { body: parsed() });
      setSaved(true);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  /** Every rule in order, this one as written in the textarea. */
  const candidate = () =>
    (loaded.data?.rules ?? []).map((r) => (r.id === id ? { ...writable(r), ...parsed() } : writable(r)));
  const notFound = loaded.data && !rule;
  return (
    <Screen
      title={rule ? t('inbound.rule.title', { name: rule.name }) : t('inbound.rules.title')}
      actions={<a href={href('/inbound/rules')}>{t('app.back')}</a>}
    >
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {notFound ? <ErrorNote error={new Error(t('inbound.rule.notFound', { id }))} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : rule ? (
        <>
          <form class="card" onSubmit={save}>
            <label for="rule-json">{t('inbound.rule.json')}</label>
            <textarea
              id="rule-json"
              class="ops-json"
              spellcheck={false}
              readOnly={!canChange}
              aria-describedby="rule-json-hint"
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
            />
            <p id="rule-json-hint" class="muted">
              {t('inbound.rule.jsonHint')}
            </p>
            {error ? <ErrorNote error={error} /> : null}
            {saved ? (
              <p class="note" role="status">
                {t('inbound.rule.saved')}
              </p>
            ) : null}
            {canChange ? (
              <button type="submit" class="primary" disabled={busy}>
                {t('inbound.rule.save')}
              </button>
            ) : null}
          </form>
          {canChange ? <Backtest candidate={candidate} /> : null}
        </>
      ) : null}
    </Screen>
  );
}

/**
 * Runs the rules over the newest messages and shows what each would have matched and sent:
 * the current rules when `candidate` gives nothing, else the candidate rules.
 */
function Backtest({ candidate }: { candidate: () => Array<Record<string, unknown>> | undefined }) {
  const { t } = useI18n();
  const [last, setLast] = useState('50');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [answer, setAnswer] = useState<{ results: BacktestResult[]; rules: number; messages: number }>();
  const run = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const rules = candidate();
      setAnswer(
        await call('POST', '/api/rules/backtest', {
          body: { last: Number(last), ...(rules ? { rules } : {}) },
        }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="backtest-title">
      <h2 id="backtest-title">{t('inbound.backtest.title')}</h2>
      <p class="muted">{t('inbound.backtest.hint')}</p>
      <form class="toolbar" onSubmit={run}>
        <label for="backtest-last">{t('inbound.backtest.last')}</label>
        <input
          id="backtest-last"
          type="number"
          min={1}
          max={1000}
          value={last}
          onInput={(e) => setLast(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          {t('inbound.backtest.run')}
        </button>
      </form>
      {error ? <ErrorNote error={error} /> : null}
      {answer ? (
        <div data-testid="backtest">
          <p role="status">
            {t('inbound.backtest.summary', {
              messages: answer.messages,
              rules: answer.rules,
              matched: answer.results.filter((r) => r.outcome === 'matched').length,
            })}
          </p>
          <ol class="list ops-results">
            {answer.results.map((r) => (
              <li key={r.id}>
                <a href={href(`/inbound/${r.id}`)}>{r.subject || t('inbound.noSubject')}</a>{' '}
                <StatusBadge status={r.outcome} label={t(`inbound.outcome.${r.outcome}` as MessageKey)} />
                <span class="muted"> {r.from ?? ''}</span>
                {r.skipReason ? <span class="muted"> · {r.skipReason}</span> : null}
                {r.would.length > 0 ? (
                  <div>
                    {t('inbound.backtest.would')}{' '}
                    {r.would
                      .map((w) =>
                        w.kind === 'webhook'
                          ? `webhook ${w.eventType ?? ''} → ${w.endpointId ?? ''}`
                          : `${w.kind} → ${(w.to ?? []).join(', ')}`,
                      )
                      .join(' · ')}
                  </div>
                ) : null}
                {r.tags.length > 0 ? <div>{t('inbound.tags', { tags: r.tags.join(', ') })}</div> : null}
                <TraceList trace={r.trace} />
              </li>
            ))}
          </ol>
        </div>
      ) : null}
    </section>
  );
}

/** Why each rule matched or not. */
export function TraceList({ trace }: { trace: BacktestResult['trace'] }) {
  const { t } = useI18n();
  if (trace.length === 0) return <p class="muted">{t('inbound.trace.empty')}</p>;
  return (
    <details>
      <summary>{t('inbound.trace.why')}</summary>
      <ul class="list">
        {trace.map((step) => (
          <li key={step.ruleId}>
            <StatusBadge
              status={step.matched ? 'matched' : 'unmatched'}
              label={step.matched ? t('inbound.trace.matched') : t('inbound.trace.notMatched')}
            />{' '}
            <strong>{step.name}</strong> <span class="muted">{step.why}</span>
          </li>
        ))}
      </ul>
    </details>
  );
}
