import '../operations.css';
import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { InboundTabs, RuleEditor, Rules, TraceList } from './inbound-rules.js';
import { Pager } from './mail-parts.js';
import { DeliveryStatus } from './webhooks-deliveries.js';

const STATES = ['fetched', 'parsed', 'matched', 'unmatched', 'delivered', 'acknowledged', 'skipped'] as const;

interface Watcher {
  folder: string;
  state: string;
  connectedSince: string | null;
  lastSuccessAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  lagSeconds: number | null;
  recorded: number;
}

interface Mailbox {
  id: string;
  name?: string;
  host?: string;
  status: 'active' | 'paused';
  purpose: string;
  auth: { type: string; user: string };
  folders?: string[];
  watchers: Watcher[];
}

interface LedgerEntry {
  id: string;
  source: string;
  mailboxId: string | null;
  folder: string | null;
  messageId: string | null;
  state: string;
  skipReason: string | null;
  duplicateOf: string | null;
  subject: string;
  from: string | null;
  size: number;
  errorCode: string | null;
  errorMessage: string | null;
  tags: string[];
  matchedRules: Array<{ id: string; name: string; detector: string | null }>;
  mailboxAction: string;
  mailboxActionError: string | null;
  receivedAt: string;
}

interface Address {
  address: string;
  name: string;
}

interface ParsedEmail {
  messageId: string | null;
  date: string | null;
  subject: string;
  from: Address | null;
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  headers: Record<string, string[]>;
  text: string;
  html: string | null;
  replyText: string;
  attachments: Array<{ filename: string | null; contentType: string; size: number }>;
  links: string[];
  truncated: string[];
}

interface MessageDeliveries {
  id: string;
  endpointId: string;
  status: string;
  attempts: number;
  lastErrorCode: string | null;
  lastErrorMessage: string | null;
}

/** `#/inbound` (mailboxes and ledger), `#/inbound/:id`, `#/inbound/rules` and `#/inbound/rules/:id`. */
export function InboundScreen({ route }: { route: Route }) {
  const [, first, second] = route.parts;
  if (first === 'rules') return second ? <RuleEditor id={second} /> : <Rules />;
  if (first) return <InboundMessage id={first} />;
  return <Inbound route={route} />;
}

/** A ledger state in words and colour. */
function LedgerState({ state }: { state: string }) {
  const { t } = useI18n();
  const known = (STATES as readonly string[]).includes(state);
  return <StatusBadge status={state} label={known ? t(`inbound.state.${state}` as MessageKey) : state} />;
}

const WATCHER_STATES = ['starting', 'connecting', 'idle', 'polling', 'fetching', 'backoff', 'standby'];

/** A watcher's state in words and colour. */
function WatcherState({ state }: { state: string }) {
  const { t } = useI18n();
  const label = WATCHER_STATES.includes(state) ? t(`inbound.watcher.${state}` as MessageKey) : state;
  return <StatusBadge status={state} label={label} />;
}

function formatAddress(a: Address | null): string {
  if (!a) return '';
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

function Inbound({ route }: { route: Route }) {
  const { t } = useI18n();
  return (
    <Screen title={t('inbound.title')}>
      <InboundTabs current="messages" />
      <Mailboxes />
      <Ledger route={route} />
    </Screen>
  );
}

function Mailboxes() {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const loaded = useLoad(() => get<{ mailboxes: Mailbox[] }>('/api/mailboxes'), []);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const setStatus = async (id: string, action: 'pause' | 'resume') => {
    setBusy(true);
    setError(undefined);
    try {
      await call('POST', `/api/mailboxes/${encodeURIComponent(id)}/${action}`);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="mailboxes-title">
      <h2 id="mailboxes-title">{t('inbound.mailboxes')}</h2>
      <p class="muted">{t('inbound.mailboxes.hint')}</p>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {error ? <ErrorNote error={error} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.mailboxes.length === 0 ? (
        <p class="muted">{t('inbound.mailboxes.none')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="mailboxes">
            <thead>
              <tr>
                <th scope="col">{t('inbound.mailbox.name')}</th>
                <th scope="col">{t('inbound.mailbox.status')}</th>
                <th scope="col">{t('inbound.mailbox.watchers')}</th>
                {canChange ? <th scope="col">{t('inbound.mailbox.actions')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {loaded.data.mailboxes.map((m) => (
                <tr key={m.id}>
                  <td>
                    <strong>{m.name ?? m.id}</strong>
                    <div class="muted">
                      {m.auth.user}
                      {m.host ? ` @ ${m.host}` : ''} · {t(`inbound.purpose.${m.purpose}` as MessageKey)}
                    </div>
                  </td>
                  <td>
                    <StatusBadge
                      status={m.status}
                      label={t(m.status === 'paused' ? 'inbound.mailbox.paused' : 'inbound.mailbox.active')}
                    />
                  </td>
                  <td>
                    {m.watchers.length === 0 ? (
                      <span class="muted">{t('inbound.watcher.none')}</span>
                    ) : (
                      m.watchers.map((w) => (
                        <div key={w.folder}>
                          <code class="code">{w.folder}</code> <WatcherState state={w.state} />
                          {w.lastSuccessAt ? (
                            <span class="muted">
                              {' '}
                              {t('inbound.watcher.lastSuccess', { time: formatTime(w.lastSuccessAt) })}
                            </span>
                          ) : null}
                          {w.lastError ? (
                            <div>
                              <code class="code">{w.lastError.code}</code> {w.lastError.message} (
                              {formatTime(w.lastError.at)})
                            </div>
                          ) : null}
                        </div>
                      ))
                    )}
                  </td>
                  {canChange ? (
                    <td>
                      <button
                        type="button"
                        disabled={busy}
                        onClick={() => setStatus(m.id, m.status === 'paused' ? 'resume' : 'pause')}
                      >
                        {t(m.status === 'paused' ? 'inbound.mailbox.resume' : 'inbound.mailbox.pause')}
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Ledger({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const state = route.query.get('state') ?? '';
  const before = route.query.get('before') ?? '';
  const loaded = useLoad(
    () =>
      get<{ messages: LedgerEntry[]; nextBefore: string | null }>('/api/inbound', {
        state,
        before,
        limit: 50,
      }),
    [state, before],
  );
  return (
    <section aria-labelledby="ledger-title">
      <h2 id="ledger-title">{t('inbound.ledger')}</h2>
      <div class="toolbar">
        <label for="ledger-state">{t('inbound.filter')}</label>
        <select
          id="ledger-state"
          value={state}
          onChange={(e) => navigate('/inbound', { state: e.currentTarget.value })}
        >
          <option value="">{t('inbound.all')}</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {t(`inbound.state.${s}` as MessageKey)}
            </option>
          ))}
        </select>
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.messages.length === 0 ? (
        <p class="muted">{t('inbound.ledger.none')}</p>
      ) : (
        <ol class="timeline" data-testid="ledger">
          {loaded.data.messages.map((m) => (
            <li key={m.id}>
              <div class="timeline-head">
                <time dateTime={m.receivedAt}>{formatTime(m.receivedAt)}</time>
                <a href={href(`/inbound/${m.id}`)}>{m.subject || t('inbound.noSubject')}</a>
                <LedgerState state={m.state} />
              </div>
              <div class="timeline-meta">
                {m.from ?? ''} · {t(`inbound.source.${m.source}` as MessageKey)}
                {m.matchedRules.length > 0
                  ? ` · ${t('inbound.matched', { rules: m.matchedRules.map((r) => r.name).join(', ') })}`
                  : ''}
                {m.skipReason ? ` · ${m.skipReason}` : ''}
                {m.tags.length > 0 ? ` · ${m.tags.join(', ')}` : ''}
              </div>
              {m.errorMessage ? (
                <div>
                  <code class="code">{m.errorCode}</code> {m.errorMessage}
                </div>
              ) : null}
            </li>
          ))}
        </ol>
      )}
      <Pager
        before={before}
        next={loaded.data?.nextBefore ?? null}
        go={(b) => navigate('/inbound', { state, before: b })}
      />
    </section>
  );
}

function InboundMessage({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const canTrace = useRoleAtLeast('operator');
  const loaded = useLoad(
    () =>
      get<LedgerEntry & { email: ParsedEmail | null; deliveries: MessageDeliveries[] }>(
        `/api/inbound/${encodeURIComponent(id)}`,
      ),
    [id],
  );
  const [trace, setTrace] = useState<BacktestResult | null>();
  const [traceError, setTraceError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const m = loaded.data;
  const runTrace = async () => {
    setBusy(true);
    setTraceError(undefined);
    try {
      const answer = await call<{ results: BacktestResult[] }>('POST', '/api/rules/backtest', {
        body: { last: 1000 },
      });
      setTrace(answer.results.find((r) => r.id === id) ?? null);
    } catch (failure) {
      setTraceError(failure);
    } finally {
      setBusy(false);
    }
  };
  const email = m?.email;
  return (
    <Screen
      title={m ? m.subject || t('inbound.noSubject') : t('inbound.title')}
      actions={<a href={href('/inbound')}>{t('app.back')}</a>}
    >
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!m ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <dl class="facts" data-testid="inbound-message">
            <dt>{t('inbound.stateCol')}</dt>
            <dd>
              <LedgerState state={m.state} />
              {m.skipReason ? ` ${m.skipReason}` : ''}
            </dd>
            <dt>{t('inbound.received')}</dt>
            <dd>{formatTime(m.receivedAt)}</dd>
            <dt>{t('inbound.sourceCol')}</dt>
            <dd>
              {t(`inbound.source.${m.source}` as MessageKey)}
              {m.folder ? ` · ${m.folder}` : ''}
            </dd>
            {m.duplicateOf ? (
              <>
                <dt>{t('inbound.duplicateOf')}</dt>
                <dd>
                  <a href={href(`/inbound/${m.duplicateOf}`)}>{m.duplicateOf}</a>
                </dd>
              </>
            ) : null}
            {m.errorMessage ? (
              <>
                <dt>{t('inbound.error')}</dt>
                <dd>
                  <code class="code">{m.errorCode}</code> {m.errorMessage}
                </dd>
              </>
            ) : null}
            <dt>{t('inbound.mailboxAction')}</dt>
            <dd>
              {t(`inbound.ack.${m.mailboxAction}` as MessageKey)}
              {m.mailboxActionError ? ` (${m.mailboxActionError})` : ''}
            </dd>
          </dl>

          <h2>{t('inbound.parsed')}</h2>
          {!email ? (
            <p class="muted">{t('inbound.notParsed')}</p>
          ) : (
            <>
              <dl class="facts" data-testid="parsed">
                <dt>{t('inbound.from')}</dt>
                <dd>{formatAddress(email.from)}</dd>
                <dt>{t('inbound.to')}</dt>
                <dd>{email.to.map(formatAddress).join(', ')}</dd>
                {email.cc.length > 0 ? (
                  <>
                    <dt>{t('inbound.cc')}</dt>
                    <dd>{email.cc.map(formatAddress).join(', ')}</dd>
                  </>
                ) : null}
                <dt>{t('inbound.subject')}</dt>
                <dd>{email.subject}</dd>
                <dt>{t('inbound.date')}</dt>
                <dd>{formatTime(email.date)}</dd>
                <dt>{t('inbound.messageId')}</dt>
                <dd>
                  <code class="code">{email.messageId ?? ''}</code>
                </dd>
                <dt>{t('inbound.attachments')}</dt>
                <dd>
                  {email.attachments.length === 0
                    ? t('inbound.attachments.none')
                    : email.attachments
                        .map((a) => `${a.filename ?? '?'} (${a.contentType}, ${a.size} B)`)
                        .join(', ')}
                </dd>
                {email.links.length > 0 ? (
                  <>
                    <dt>{t('inbound.links')}</dt>
                    <dd>{email.links.join(' ')}</dd>
                  </>
                ) : null}
              </dl>
              <h3>{t('inbound.text')}</h3>
              <pre class="ops-pre" data-testid="parsed-text">
                {email.text}
              </pre>
              {email.replyText && email.replyText !== email.text ? (
                <details>
                  <summary>{t('inbound.replyText')}</summary>
                  <pre class="ops-pre">{email.replyText}</pre>
                </details>
              ) : null}
              <details>
                <summary>{t('inbound.headers')}</summary>
                <pre class="ops-pre">
                  {Object.entries(email.headers)
                    .flatMap(([name, values]) => values.map((v) => `${name}: ${v}`))
                    .join('\n')}
                </pre>
              </details>
            </>
          )}

          <h2>{t('inbound.trace')}</h2>
          {m.matchedRules.length === 0 ? (
            <p>{t('inbound.trace.noMatch')}</p>
          ) : (
            <ul class="list" data-testid="matched-rules">
              {m.matchedRules.map((r) => (
                <li key={r.id}>
                  <a href={href(`/inbound/rules/${r.id}`)}>{r.name}</a>
                  {r.detector ? ` (${r.detector})` : ''}
                </li>
              ))}
            </ul>
          )}
          {m.tags.length > 0 ? <p>{t('inbound.tags', { tags: m.tags.join(', ') })}</p> : null}
          {canTrace ? (
            <div class="ops-actions">
              <button type="button" disabled={busy} onClick={runTrace}>
                {t('inbound.trace.run')}
              </button>
            </div>
          ) : null}
          {traceError ? <ErrorNote error={traceError} /> : null}
          {trace === null ? <p class="muted">{t('inbound.trace.tooOld')}</p> : null}
          {trace ? <TraceList trace={trace.trace} /> : null}

          <h2>{t('inbound.deliveries')}</h2>
          {m.deliveries.length === 0 ? (
            <p class="muted">{t('inbound.deliveries.none')}</p>
          ) : (
            <div class="table-wrap">
              <table data-testid="message-deliveries">
                <thead>
                  <tr>
                    <th scope="col">{t('inbound.delivery')}</th>
                    <th scope="col">{t('inbound.delivery.status')}</th>
                    <th scope="col">{t('inbound.delivery.attempts')}</th>
                    <th scope="col">{t('inbound.delivery.error')}</th>
                  </tr>
                </thead>
                <tbody>
                  {m.deliveries.map((d) => (
                    <tr key={d.id}>
                      <td>
                        <a href={href(`/webhooks/deliveries/${d.id}`)}>{d.id}</a>
                      </td>
                      <td>
                        <DeliveryStatus status={d.status} />
                      </td>
                      <td>{d.attempts}</td>
                      <td>
                        {d.lastErrorCode ? <code class="code">{d.lastErrorCode}</code> : null}
                        {d.lastErrorMessage ?? ''}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Screen>
  );
}

/** One message of a backtest answer. */
export interface BacktestResult {
  id: string;
  subject: string;
  from: string | null;
  receivedAt: string;
  stateNow: string;
  outcome: string;
  skipReason: string | null;
  matchedRules: Array<{ id: string; name: string }>;
  would: Array<{ kind: string; endpointId?: string; to?: string[]; eventType?: string }>;
  tags: string[];
  trace: Array<{ ruleId: string; name: string; matched: boolean; why: string }>;
}
