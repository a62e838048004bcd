import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { DataTable, ErrorNote, LoadedView, Pager, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { navigate, type Route } from '../router.js';
import type { ApiKeyInfo } from './settings-keys.js';
import { roleLabel } from './settings-parts.js';
import type { UserInfo } from './settings-users.js';

interface AuditEntry {
  id: string;
  at: string;
  actor: { kind: string; id: string | null; name: string | null; role: string | null };
  action: string;
  target: { type: string; id: string | null };
  address: string | null;
  requestId: string | null;
  before: unknown;
  after: unknown;
  outcome: 'ok' | 'refused';
}

const PATH = '/settings/audit';

/** `#/settings/audit?action=&actor=&cursor=`: the audit log, newest first, a page at a time. */
export function AuditLog({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const action = route.query.get('action') ?? '';
  const actor = route.query.get('actor') ?? '';
  const cursor = route.query.get('cursor') ?? '';
  const loaded = useLoad(
    () =>
      get<{ items: AuditEntry[]; nextCursor: string | null }>('/api/audit', {
        action,
        actorId: actor,
        cursor,
        limit: 50,
      }),
    [action, actor, cursor],
  );
  // The actors to filter by: the users and the API keys.
  const actors = useLoad(
    () => Promise.all([get<{ items: UserInfo[] }>('/api/users'), get<{ items: ApiKeyInfo[] }>('/api/keys')]),
    [],
  );
  const [actionInput, setActionInput] = useState(action);
  const [actorInput, setActorInput] = useState(actor);
  // Each field follows the address when its own part changes (back, forward, a link), so a
  // choice made while another part's change arrives is kept.
  useEffect(() => setActionInput(action), [action]);
  useEffect(() => setActorInput(actor), [actor]);

  const apply = (event: Event) => {
    event.preventDefault();
    navigate(PATH, { action: actionInput.trim(), actor: actorInput });
  };

  return (
    <>
      <form class="filters" onSubmit={apply} aria-label={t('settings.audit.filters')}>
        <div>
          <label for="audit-action">{t('settings.audit.action')}</label>
          <input
            id="audit-action"
            placeholder={t('settings.audit.actionHelp')}
            value={actionInput}
            onInput={(e) => setActionInput(e.currentTarget.value)}
          />
        </div>
        <div>
          <label for="audit-actor">{t('settings.audit.actor')}</label>
          <select id="audit-actor" value={actorInput} onChange={(e) => setActorInput(e.currentTarget.value)}>
            <option value="">{t('settings.audit.anyone')}</option>
            {actor && !actors.data?.some((list) => list.items.some((item) => item.id === actor)) ? (
              <option value={actor}>{actor}</option>
            ) : null}
            {actors.data?.[0].items.map((user) => (
              <option key={user.id} value={user.id}>
                {user.email}
              </option>
            ))}
            {actors.data?.[1].items.map((key) => (
              <option key={key.id} value={key.id}>
                {t('settings.audit.keyOption', { name: key.name })}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary">
          {t('settings.audit.apply')}
        </button>
        {action || actor ? (
          <button
            type="button"
            onClick={() => {
              setActionInput('');
              setActorInput('');
              navigate(PATH);
            }}
          >
            {t('settings.audit.clear')}
          </button>
        ) : null}
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </form>
      {actors.error ? <ErrorNote error={actors.error} /> : null}
      <LoadedView loaded={loaded} isEmpty={(data) => data.items.length === 0}>
        {(data) => (
          <DataTable
            testid="audit"
            label={t('settings.audit.entries')}
            columns={[
              t('settings.audit.when'),
              t('settings.audit.who'),
              t('settings.audit.action'),
              t('settings.audit.target'),
              t('settings.audit.address'),
              t('settings.audit.outcome'),
              t('settings.audit.changes'),
            ]}
            rows={data.items}
            row={(entry) => (
              <tr key={entry.id}>
                <td>{formatTime(entry.at)}</td>
                <td>
                  <span class="muted">{kindLabel(t, entry.actor.kind)}</span>{' '}
                  {entry.actor.name ?? entry.actor.id ?? ''}
                  {entry.actor.role ? ` (${roleLabel(t, entry.actor.role)})` : ''}
                </td>
                <td>
                  <code class="code">{entry.action}</code>
                </td>
                <td>
                  {entry.target.type}
                  {entry.target.id ? (
                    <>
                      {' '}
                      <code class="code">{entry.target.id}</code>
                    </>
                  ) : null}
                </td>
                <td>{entry.address ?? ''}</td>
                <td>
                  <StatusBadge status={entry.outcome} label={t(`settings.audit.${entry.outcome}`)} />
                </td>
                <td class="changes">
                  {entry.before == null && entry.after == null ? (
                    <span class="muted">{t('settings.audit.nothing')}</span>
                  ) : (
                    <details>
                      <summary>
                        {t('settings.audit.showChanges')}
                        {changedFields(entry.before, entry.after)}
                      </summary>
                      <h3 class="help">{t('settings.audit.before')}</h3>
                      <pre class="raw">{json(entry.before)}</pre>
                      <h3 class="help">{t('settings.audit.after')}</h3>
                      <pre class="raw">{json(entry.after)}</pre>
                    </details>
                  )}
                </td>
              </tr>
            )}
          />
        )}
      </LoadedView>
      <Pager
        current={cursor}
        next={loaded.data?.nextCursor}
        go={(next) => navigate(PATH, { action, actor, cursor: next })}
      />
    </>
  );
}

function kindLabel(t: ReturnType<typeof useI18n>['t'], kind: string): string {
  const key = `settings.audit.kind.${kind}`;
  return ['user', 'api_key', 'route_token', 'system', 'anonymous'].includes(kind)
    ? t(key as MessageKey)
    : kind;
}

/** The top-level fields a change touched, e.g. " (role, disabledAt)"; '' when not two objects. */
function changedFields(before: unknown, after: unknown): string {
  if (!isObject(before) || !isObject(after)) return '';
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (name) => name !== 'updatedAt' && JSON.stringify(before[name]) !== JSON.stringify(after[name]),
  );
  return names.length ? ` (${names.join(', ')})` : '';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function json(value: unknown): string {
  return value == null ? '—' : JSON.stringify(value, null, 2);
}
