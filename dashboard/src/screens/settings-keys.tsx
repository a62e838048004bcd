import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, LoadedView, StatusBadge, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { iso, ROLES, roleLabel } from './settings-parts.js';

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** `#/settings/keys`: the API keys (never the key itself), creating one (shown once) and revoking. */
export function ApiKeys() {
  const { t, formatTime } = useI18n();
  const loaded = useLoad(() => get<{ items: ApiKeyInfo[] }>('/api/keys'), []);
  const [failure, setFailure] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [confirming, setConfirming] = useState<string>();

  const revoke = async (key: ApiKeyInfo) => {
    setFailure(undefined);
    setNotice(undefined);
    try {
      await call('DELETE', `/api/keys/${encodeURIComponent(key.id)}`);
      setNotice(t('settings.keys.revokedNote', { name: key.name }));
    } catch (error) {
      setFailure(error);
    }
    setConfirming(undefined);
    loaded.reload();
  };

  return (
    <>
      <h2 id="keys-title">{t('settings.keys.list')}</h2>
      <p class="muted help">{t('settings.roles.help')}</p>
      {failure ? <ErrorNote error={failure} /> : null}
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <LoadedView loaded={loaded} isEmpty={(data) => data.items.length === 0}>
        {(data) => (
          <DataTable
            testid="keys"
            labelledBy="keys-title"
            columns={[
              t('settings.keys.name'),
              t('settings.keys.role'),
              t('settings.keys.prefix'),
              t('settings.keys.created'),
              t('settings.keys.lastUsed'),
              t('settings.keys.state'),
              t('settings.users.actions'),
            ]}
            rows={data.items}
            row={(key) => (
              <tr key={key.id}>
                <th scope="row">{key.name}</th>
                <td>{roleLabel(t, key.role)}</td>
                <td>
                  <code class="code">{key.prefix}</code>
                </td>
                <td>{formatTime(iso(key.createdAt))}</td>
                <td>
                  {key.lastUsedAt === null ? t('settings.keys.never') : formatTime(iso(key.lastUsedAt))}
                </td>
                <td>
                  {key.revokedAt === null ? (
                    <StatusBadge status="active" label={t('settings.keys.active')} />
                  ) : (
                    <StatusBadge
                      status="revoked"
                      label={t('settings.keys.revoked', { time: formatTime(iso(key.revokedAt)) })}
                    />
                  )}
                </td>
                <td>
                  {key.revokedAt !== null ? null : confirming === key.id ? (
                    <div class="confirm">
                      <span>{t('settings.keys.confirmRevoke', { name: key.name })}</span>
                      <button type="button" class="primary" onClick={() => revoke(key)}>
                        {t('settings.keys.confirmRevokeButton')}
                      </button>
                      <button type="button" onClick={() => setConfirming(undefined)}>
                        {t('settings.cancel')}
                      </button>
                    </div>
                  ) : (
                    <button type="button" onClick={() => setConfirming(key.id)}>
                      {t('settings.keys.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            )}
          />
        )}
      </LoadedView>
      <NewKey onCreated={loaded.reload} />
    </>
  );
}

function NewKey({ onCreated }: { onCreated: () => void }) {
  const { t } = useI18n();
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('operator');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const [copied, setCopied] = useState<'yes' | 'no'>();

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFailure(undefined);
    setCreated(undefined);
    setCopied(undefined);
    try {
      const key = await call<ApiKeyInfo & { key: string }>('POST', '/api/keys', { body: { name, role } });
      setCreated({ name: key.name, key: key.key });
      setName('');
      onCreated();
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created?.key ?? '');
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  };

  return (
    <>
      {created ? (
        <section class="card" aria-labelledby="new-key-once" data-testid="new-key">
          <h2 id="new-key-once">{t('settings.keys.newKey', { name: created.name })}</h2>
          <p>{t('settings.keys.shownOnce')}</p>
          <code class="secret">{created.key}</code>
          <div class="row-actions">
            <button type="button" onClick={copy}>
              {t('settings.keys.copy')}
            </button>
            <button type="button" onClick={() => setCreated(undefined)}>
              {t('settings.keys.done')}
            </button>
          </div>
          {copied ? (
            <p class="muted help" role="status">
              {copied === 'yes' ? t('settings.keys.copied') : t('settings.keys.copyFailed')}
            </p>
          ) : null}
        </section>
      ) : null}
      <form class="card settings-form" onSubmit={submit} aria-labelledby="new-key-title">
        <h2 id="new-key-title">{t('settings.keys.create')}</h2>
        <label for="new-key-name">{t('settings.keys.name')}</label>
        <input
          id="new-key-name"
          autocomplete="off"
          required
          maxLength={100}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <label for="new-key-role">{t('settings.keys.role')}</label>
        <select id="new-key-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {roleLabel(t, r)}
            </option>
          ))}
        </select>
        {failure ? <ErrorNote error={failure} /> : null}
        <button type="submit" class="primary" disabled={busy}>
          {t('settings.keys.createButton')}
        </button>
      </form>
    </>
  );
}
