import '../operations.css';
import { get } from '../api.js';
import { FilterBar, LoadedView, Pager, Screen, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { Mailboxes } from './inbound-mailboxes.js';
import { InboundMessage, type LedgerEntry, LedgerState, STATES } from './inbound-message.js';
import { InboundTabs, RuleEditor, Rules } from './inbound-rules.js';

/**
 * `#/inbound` (mailboxes and ledger), `#/inbound/:id`, `#/inbound/rules`, `#/inbound/rules/new`
 * and `#/inbound/rules/:id`.
 */
export function InboundScreen({ route }: { route: Route }) {
  const [, first, second] = route.parts;
  if (first === 'rules') return second ? <RuleEditor id={second} /> : <Rules />;
  if (first) return <InboundMessage id={first} />;
  return <Inbound route={route} />;
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
      <FilterBar
        id="ledger-state"
        label={t('inbound.filter')}
        value={state}
        allLabel={t('inbound.all')}
        options={STATES.map((s) => ({ value: s, label: t(`inbound.state.${s}` as MessageKey) }))}
        onChange={(value) => navigate('/inbound', { state: value })}
        onRefresh={loaded.reload}
      />
      <LoadedView
        loaded={loaded}
        isEmpty={(data) => data.messages.length === 0}
        empty={t('inbound.ledger.none')}
      >
        {(data) => (
          <ol class="timeline" data-testid="ledger">
            {data.messages.map((m) => (
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
      </LoadedView>
      <Pager
        current={before}
        next={loaded.data?.nextBefore}
        go={(b) => navigate('/inbound', { state, before: b })}
      />
    </section>
  );
}
