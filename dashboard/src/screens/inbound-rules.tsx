import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, LoadedView, Screen, StatusBadge, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import { Backtest } from './inbound-backtest.js';
import { ConfirmDelete } from './ops-parts.js';

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
  const [notice, setNotice] = useState<string>();
  const rules = loaded.data?.rules ?? [];
  const run = async (action: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await action();
      if (done) setNotice(done);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const move = (index: number, by: -1 | 1) => {
    const ids = rules.map((r) => r.id);
    const [moved] = ids.splice(index, 1);
    if (moved === undefined) return;
    ids.splice(index + by, 0, moved);
    return run(() => call('PUT', '/api/rules/order', { body: { ids } }));
  };
  return (
    <Screen title={t('inbound.rules.title')}>
      <InboundTabs current="rules" />
      <div class="toolbar">
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
        {canChange ? <a href={href('/inbound/rules/new')}>{t('inbound.rule.new')}</a> : null}
      </div>
      {error ? <ErrorNote error={error} /> : null}
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <LoadedView loaded={loaded} isEmpty={(d) => d.rules.length === 0} empty={t('inbound.rules.none')}>
        {() => (
          <DataTable
            testid="rules"
            columns={[
              t('inbound.rule.position'),
              t('inbound.rule.name'),
              t('inbound.rule.actions'),
              canChange && t('inbound.rule.order'),
            ]}
            rows={rules}
            row={(rule, index) => (
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
                    <div class="ops-row-actions">
                      <button
                        type="button"
                        disabled={busy || index === 0}
                        aria-label={t('inbound.rule.up', { name: rule.name })}
                        onClick={() => move(index, -1)}
                      >
                        ↑
                      </button>
                      <button
                        type="button"
                        disabled={busy || index === rules.length - 1}
                        aria-label={t('inbound.rule.down', { name: rule.name })}
                        onClick={() => move(index, 1)}
                      >
                        ↓
                      </button>
                      <ConfirmDelete
                        name={rule.name}
                        busy={busy}
                        onConfirm={() =>
                          run(
                            () => call('DELETE', `/api/rules/${encodeURIComponent(rule.id)}`),
                            t('inbound.rule.deleted', { name: rule.name }),
                          )
                        }
                      />
                    </div>
                  </td>
                ) : null}
              </tr>
            )}
          />
        )}
      </LoadedView>
      {canChange && loaded.data ? <Backtest candidate={() => undefined} /> : null}
    </Screen>
  );
}

/** What a new rule's editor starts from. */
const NEW_RULE = {
  name: '',
  enabled: true,
  when: { all: [{ field: 'subject', operator: 'contains', value: '' }] },
  actions: [{ type: 'tag', tags: [] }],
  stopProcessing: false,
};

/**
 * `#/inbound/rules/:id` and `#/inbound/rules/new`: one rule's settings as JSON, saved with PATCH
 * (or created with POST), backtested before, and deleted after a confirmation.
 */
export function RuleEditor({ id }: { id: string }) {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const creating = id === 'new';
  const loaded = useLoad(() => get<{ rules: Rule[] }>('/api/rules'), [id]);
  const rule = loaded.data?.rules.find((r) => r.id === id);
  const [text, setText] = useState(creating ? JSON.stringify(NEW_RULE, null, 2) : '');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string>();
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
  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    setSaved(undefined);
    try {
      await action();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const save = (event: Event) => {
    event.preventDefault();
    return act(async () => {
      if (creating) {
        const created = await call<Rule>('POST', '/api/rules', { body: parsed() });
        navigate(`/inbound/rules/${created.id}`);
        return;
      }
      if (!rule) return;
      await call('PATCH', `/api/rules/${encodeURIComponent(id)}`, { body: parsed() });
      setSaved(t('inbound.rule.saved'));
      loaded.reload();
    });
  };
  const remove = () =>
    act(async () => {
      await call('DELETE', `/api/rules/${encodeURIComponent(id)}`);
      navigate('/inbound/rules');
    });
  /** Every rule in order, this one as written in the textarea (a new one last). */
  const candidate = () => {
    const rules = (loaded.data?.rules ?? []).map((r) =>
      r.id === id ? { ...writable(r), ...parsed() } : writable(r),
    );
    return creating ? [...rules, parsed()] : rules;
  };
  const notFound = !creating && loaded.data && !rule;
  const title = creating
    ? t('inbound.rule.newTitle')
    : rule
      ? t('inbound.rule.title', { name: rule.name })
      : t('inbound.rules.title');
  return (
    <Screen title={title} actions={<a href={href('/inbound/rules')}>{t('app.back')}</a>}>
      {notFound ? <ErrorNote error={new Error(t('inbound.rule.notFound', { id }))} /> : null}
      <LoadedView loaded={loaded}>
        {() =>
          rule || (creating && canChange) ? (
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
                    {saved}
                  </p>
                ) : null}
                {canChange ? (
                  <div class="ops-actions">
                    <button type="submit" class="primary" disabled={busy}>
                      {t(creating ? 'inbound.rule.create' : 'inbound.rule.save')}
                    </button>
                    {rule ? <ConfirmDelete name={rule.name} busy={busy} onConfirm={remove} /> : null}
                  </div>
                ) : null}
              </form>
              {canChange ? <Backtest candidate={candidate} /> : null}
            </>
          ) : null
        }
      </LoadedView>
    </Screen>
  );
}
