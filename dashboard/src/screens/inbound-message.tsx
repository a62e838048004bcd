import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, Facts, LoadedView, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { TraceList } from './inbound-backtest.js';
import { DeliveryStatus } from './webhooks-deliveries.js';

/** The ledger states, in the order a message goes through them. */
export const STATES = [
  'fetched',
  'parsed',
  'matched',
  'unmatched',
  'delivered',
  'acknowledged',
  'skipped',
] as const;

/** A row of the inbound ledger, as `GET /api/inbound` shows it. */
export interface LedgerEntry {
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

type Message = LedgerEntry & { email: ParsedEmail | null; deliveries: MessageDeliveries[] };

/** A ledger state in words and colour. */
export function LedgerState({ state }: { state: string }) {
  const { t } = useI18n();
  const known = (STATES as readonly string[]).includes(state);
  return <StatusBadge status={state} label={known ? t(`inbound.state.${state}` as MessageKey) : state} />;
}

function formatAddress(a: Address | null): string {
  if (!a) return '';
  return a.name ? `${a.name} <${a.address}>` : a.address;
}

/** `#/inbound/:id`: one ledger row, its parsed email, the rules it matched and its deliveries. */
export function InboundMessage({ id }: { id: string }) {
  const { t } = useI18n();
  const loaded = useLoad(() => get<Message>(`/api/inbound/${encodeURIComponent(id)}`), [id]);
  const m = loaded.data;
  return (
    <Screen
      title={m ? m.subject || t('inbound.noSubject') : t('inbound.title')}
      actions={<a href={href('/inbound')}>{t('app.back')}</a>}
    >
      <LoadedView loaded={loaded}>
        {(m) => (
          <>
            <MessageFacts m={m} />
            <h2>{t('inbound.parsed')}</h2>
            {m.email ? <ParsedView email={m.email} /> : <p class="muted">{t('inbound.notParsed')}</p>}
            <MessageTrace m={m} />
            <h2>{t('inbound.deliveries')}</h2>
            <MessageDeliveryList deliveries={m.deliveries} />
          </>
        )}
      </LoadedView>
    </Screen>
  );
}

function MessageFacts({ m }: { m: Message }) {
  const { t, formatTime } = useI18n();
  return (
    <Facts
      testid="inbound-message"
      facts={[
        [
          t('inbound.stateCol'),
          <>
            <LedgerState state={m.state} />
            {m.skipReason ? ` ${m.skipReason}` : ''}
          </>,
        ],
        [t('inbound.received'), formatTime(m.receivedAt)],
        [
          t('inbound.sourceCol'),
          <>
            {t(`inbound.source.${m.source}` as MessageKey)}
            {m.folder ? ` · ${m.folder}` : ''}
          </>,
        ],
        m.duplicateOf
          ? [t('inbound.duplicateOf'), <a href={href(`/inbound/${m.duplicateOf}`)}>{m.duplicateOf}</a>]
          : null,
        m.errorMessage
          ? [
              t('inbound.error'),
              <>
                <code class="code">{m.errorCode}</code> {m.errorMessage}
              </>,
            ]
          : null,
        [
          t('inbound.mailboxAction'),
          <>
            {t(`inbound.ack.${m.mailboxAction}` as MessageKey)}
            {m.mailboxActionError ? ` (${m.mailboxActionError})` : ''}
          </>,
        ],
      ]}
    />
  );
}

function ParsedView({ email }: { email: ParsedEmail }) {
  const { t, formatTime } = useI18n();
  return (
    <>
      <Facts
        testid="parsed"
        facts={[
          [t('inbound.from'), formatAddress(email.from)],
          [t('inbound.to'), email.to.map(formatAddress).join(', ')],
          email.cc.length > 0 ? [t('inbound.cc'), email.cc.map(formatAddress).join(', ')] : null,
          [t('inbound.subject'), email.subject],
          [t('inbound.date'), formatTime(email.date)],
          [t('inbound.messageId'), <code class="code">{email.messageId ?? ''}</code>],
          [
            t('inbound.attachments'),
            email.attachments.length === 0
              ? t('inbound.attachments.none')
              : email.attachments
                  .map((a) => `${a.filename ?? '?'} (${a.contentType}, ${a.size} B)`)
                  .join(', '),
          ],
          email.links.length > 0 ? [t('inbound.links'), email.links.join(' ')] : null,
        ]}
      />
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
  );
}

/** The rules it matched, and "why" rule by rule with the current rules (a backtest of it). */
function MessageTrace({ m }: { m: Message }) {
  const { t } = useI18n();
  const canTrace = useRoleAtLeast('operator');
  const [trace, setTrace] = useState<BacktestResult | null>();
  const [traceError, setTraceError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const runTrace = async () => {
    setBusy(true);
    setTraceError(undefined);
    try {
      const answer = await call<{ results: BacktestResult[] }>('POST', '/api/rules/backtest', {
        body: { last: 1000 },
      });
      setTrace(answer.results.find((r) => r.id === m.id) ?? null);
    } catch (failure) {
      setTraceError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
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
    </>
  );
}

function MessageDeliveryList({ deliveries }: { deliveries: MessageDeliveries[] }) {
  const { t } = useI18n();
  if (deliveries.length === 0) return <p class="muted">{t('inbound.deliveries.none')}</p>;
  return (
    <DataTable
      testid="message-deliveries"
      columns={[
        t('inbound.delivery'),
        t('inbound.delivery.status'),
        t('inbound.delivery.attempts'),
        t('inbound.delivery.error'),
      ]}
      rows={deliveries}
      row={(d) => (
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
      )}
    />
  );
}
