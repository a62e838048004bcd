import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, StatusBadge } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import type { BacktestResult } from './inbound-message.js';

/**
 * Runs the rules over the newest messages and shows what each would have matched and sent:
 * the current rules when `candidate` gives nothing, else the candidate rules.
 */
export function Backtest({ candidate }: { candidate: () => Array<Record<string, unknown>> | undefined }) {
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
