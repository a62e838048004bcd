import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, Field, LoadedView, StatusBadge, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { useSession } from '../session.js';
import { iso, ROLES, roleLabel } from './settings-parts.js';

export interface UserInfo {
  id: string;
  email: string;
  name: string;
  role: string;
  hasPassword: boolean;
  createdAt: number;
  updatedAt: number;
  disabledAt: number | null;
}

/** `#/settings/users`: every user, with their role and state, and a form to add one. */
export function Users() {
  const { t, formatTime } = useI18n();
  const session = useSession();
  const loaded = useLoad(() => get<{ items: UserInfo[] }>('/api/users'), []);
  const [failure, setFailure] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [confirming, setConfirming] = useState<string>();

  /** Runs a change, then shows what happened and reloads the list. */
  const change = async (run: () => Promise<unknown>, done: string) => {
    setFailure(undefined);
    setNotice(undefined);
    try {
      await run();
      setNotice(done);
    } catch (error) {
      setFailure(error);
    }
    setConfirming(undefined);
    loaded.reload();
  };
  const patch = (user: UserInfo, body: Record<string, unknown>) =>
    change(
      () => call('PATCH', `/api/users/${encodeURIComponent(user.id)}`, { body }),
      t('settings.users.updated', { email: user.email }),
    );

  return (
    <>
      <h2 id="users-title">{t('settings.users.list')}</h2>
      <p class="muted help">{t('settings.roles.help')}</p>
      {failure ? <ErrorNote error={failure} /> : null}
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <LoadedView loaded={loaded}>
        {(data) => (
          <DataTable
            testid="users"
            labelledBy="users-title"
            columns={[
              t('settings.users.name'),
              t('settings.users.email'),
              t('settings.users.role'),
              t('settings.users.state'),
              t('settings.users.signIn'),
              t('settings.users.created'),
              t('settings.users.actions'),
            ]}
            rows={data.items}
            row={(user) => {
              const state = user.disabledAt === null ? 'active' : 'disabled';
              return (
                <tr key={user.id} data-email={user.email}>
                  <th scope="row">
                    {user.name}
                    {user.id === session.user.id ? ` ${t('settings.users.you')}` : ''}
                  </th>
                  <td>{user.email}</td>
                  <td>
                    <select
                      aria-label={t('settings.users.roleOf', { email: user.email })}
                      value={user.role}
                      onChange={(e) => patch(user, { role: e.currentTarget.value })}
                    >
                      {ROLES.map((role) => (
                        <option key={role} value={role}>
                          {roleLabel(t, role)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <StatusBadge status={state} label={t(`settings.users.${state}`)} />
                  </td>
                  <td>
                    {user.hasPassword ? t('settings.users.withPassword') : t('settings.users.withLink')}
                  </td>
                  <td>{formatTime(iso(user.createdAt))}</td>
                  <td>
                    {confirming === user.id ? (
                      <div class="confirm">
                        <span>{t('settings.users.confirmDelete', { email: user.email })}</span>
                        <button
                          type="button"
                          class="primary"
                          onClick={() =>
                            change(
                              () => call('DELETE', `/api/users/${encodeURIComponent(user.id)}`),
                              t('settings.users.deleted', { email: user.email }),
                            )
                          }
                        >
                          {t('settings.users.confirmDeleteButton')}
                        </button>
                        <button type="button" onClick={() => setConfirming(undefined)}>
                          {t('settings.cancel')}
                        </button>
                      </div>
                    ) : (
                      <div class="row-actions">
                        <button type="button" onClick={() => patch(user, { disabled: state === 'active' })}>
                          {state === 'active' ? t('settings.users.disable') : t('settings.users.enable')}
                        </button>
                        <button type="button" onClick={() => setConfirming(user.id)}>
                          {t('settings.users.delete')}
                        </button>
                      </div>
                    )}
                  </td>
                </tr>
              );
            }}
          />
        )}
      </LoadedView>
      <NewUser onCreated={loaded.reload} />
    </>
  );
}

function NewUser({ onCreated }: { onCreated: () => void }) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<string>('viewer');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [created, setCreated] = useState<string>();

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFailure(undefined);
    setCreated(undefined);
    try {
      const user = await call<UserInfo>('POST', '/api/users', {
        body: { email, name, role, ...(password ? { password } : {}) },
      });
      setCreated(user.email);
      setEmail('');
      setName('');
      setPassword('');
      onCreated();
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card settings-form" onSubmit={submit} aria-labelledby="new-user-title">
      <h2 id="new-user-title">{t('settings.users.create')}</h2>
      <Field label={t('settings.users.email')} id="new-user-email">
        <input
          id="new-user-email"
          type="email"
          autocomplete="off"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
      </Field>
      <Field label={t('settings.users.name')} id="new-user-name">
        <input
          id="new-user-name"
          autocomplete="off"
          required
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </Field>
      <Field label={t('settings.users.role')} id="new-user-role">
        <select id="new-user-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {roleLabel(t, r)}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('settings.users.password')} id="new-user-password">
        <input
          id="new-user-password"
          type="password"
          autocomplete="new-password"
          aria-describedby="new-user-password-help"
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <p id="new-user-password-help" class="muted help">
          {t('settings.users.passwordHelp')}
        </p>
      </Field>
      {failure ? <ErrorNote error={failure} /> : null}
      {created ? (
        <p class="note" role="status">
          {t('settings.users.createdNote', { email: created })}
        </p>
      ) : null}
      <button type="submit" class="primary" disabled={busy}>
        {t('settings.users.createButton')}
      </button>
    </form>
  );
}
