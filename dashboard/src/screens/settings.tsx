import { useState } from 'preact/hooks';
import { ApiError, call } from '../api.js';
import { ErrorNote, Facts, Screen } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, type Route } from '../router.js';
import { useRoleAtLeast, useSession } from '../session.js';
import { AuditLog } from './settings-audit.js';
import { ApiKeys } from './settings-keys.js';
import { roleLabel } from './settings-parts.js';
import { RuleSettingsTab } from './settings-rules.js';
import { Users } from './settings-users.js';
import '../settings.css';

const ADMIN_TABS = ['users', 'keys', 'audit', 'rules', 'account'] as const;
type Tab = (typeof ADMIN_TABS)[number];
/** An operator changes the rule settings (the API's role for them); a viewer has their account only. */
const OPERATOR_TABS: readonly Tab[] = ['rules', 'account'];

/** The settings screens: `#/settings/users`, `/keys`, `/audit` (admins) and `/account` (everyone). */
export function Settings({ route }: { route: Route }) {
  const { t } = useI18n();
  const admin = useRoleAtLeast('admin');
  const operator = useRoleAtLeast('operator');
  const asked = route.parts[1] as Tab | undefined;
  const tabs: readonly Tab[] = admin ? ADMIN_TABS : operator ? OPERATOR_TABS : ['account'];
  const tab: Tab = asked && tabs.includes(asked) ? asked : admin ? 'users' : 'account';
  return (
    <Screen title={t('settings.title')}>
      <nav class="tabs" aria-label={t('settings.tabs')}>
        {tabs.map((name) => (
          <a key={name} href={href(`/settings/${name}`)} aria-current={tab === name ? 'page' : undefined}>
            {t(`settings.tab.${name}` as MessageKey)}
          </a>
        ))}
      </nav>
      {tab === 'users' ? (
        <Users />
      ) : tab === 'keys' ? (
        <ApiKeys />
      ) : tab === 'audit' ? (
        <AuditLog route={route} />
      ) : tab === 'rules' ? (
        <RuleSettingsTab />
      ) : (
        <MyAccount />
      )}
    </Screen>
  );
}

/** The signed-in user: who they are, their password, and signing out everywhere. */
function MyAccount() {
  const { t } = useI18n();
  const session = useSession();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [done, setDone] = useState(false);
  const [signOutFailure, setSignOutFailure] = useState<unknown>();

  const change = async (event: Event) => {
    event.preventDefault();
    setDone(false);
    setFailure(undefined);
    if (next !== repeat) {
      setFailure(new Error(t('settings.account.mismatch')));
      return;
    }
    setBusy(true);
    try {
      await call('POST', '/auth/password', { body: { current, password: next } });
      setCurrent('');
      setNext('');
      setRepeat('');
      setDone(true);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  const signOutEverywhere = async () => {
    setSignOutFailure(undefined);
    try {
      await call('POST', '/auth/logout-everywhere', { quiet401: true });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        setSignOutFailure(error);
        return;
      }
    }
    // This session has ended too: the page starts again at the sign-in screen.
    location.hash = '#/';
    location.reload();
  };

  return (
    <>
      <h2>{t('settings.account.you')}</h2>
      <Facts
        testid="account"
        facts={[
          [t('settings.users.name'), session.user.name],
          [t('settings.users.email'), session.user.email],
          [t('settings.users.role'), roleLabel(t, session.user.role)],
        ]}
      />
      <form class="card settings-form" onSubmit={change} aria-labelledby="account-password-title">
        <h2 id="account-password-title">{t('settings.account.password')}</h2>
        <label for="account-current">{t('settings.account.current')}</label>
        <input
          id="account-current"
          type="password"
          autocomplete="current-password"
          required
          value={current}
          onInput={(e) => setCurrent(e.currentTarget.value)}
        />
        <label for="account-new">{t('settings.account.new')}</label>
        <input
          id="account-new"
          type="password"
          autocomplete="new-password"
          aria-describedby="account-new-help"
          required
          value={next}
          onInput={(e) => setNext(e.currentTarget.value)}
        />
        <p id="account-new-help" class="muted help">
          {t('settings.account.newHelp')}
        </p>
        <label for="account-repeat">{t('settings.account.repeat')}</label>
        <input
          id="account-repeat"
          type="password"
          autocomplete="new-password"
          required
          value={repeat}
          onInput={(e) => setRepeat(e.currentTarget.value)}
        />
        {failure ? <ErrorNote error={failure} /> : null}
        {done ? (
          <p class="note" role="status">
            {t('settings.account.changed')}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {t('settings.account.change')}
        </button>
      </form>
      <section class="card" aria-labelledby="account-sessions-title">
        <h2 id="account-sessions-title">{t('settings.account.sessions')}</h2>
        <p class="muted help">{t('settings.account.sessionsHelp')}</p>
        {signOutFailure ? <ErrorNote error={signOutFailure} /> : null}
        <button type="button" onClick={signOutEverywhere}>
          {t('settings.account.signOutEverywhere')}
        </button>
      </section>
    </>
  );
}
