import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, call, type Session, setSessionToken, whenSessionLost } from './api.js';
import { ErrorNote, Loading } from './common.js';
import {
  I18nContext,
  i18nFor,
  initialLanguage,
  LANGUAGES,
  type Language,
  type MessageKey,
  rememberLanguage,
  useI18n,
} from './i18n/index.js';
import { href, navigate, type Route, useRoute } from './router.js';
import { Campaigns } from './screens/campaigns.js';
import { Coming } from './screens/coming.js';
import { InboundScreen } from './screens/inbound.js';
import { Login } from './screens/login.js';
import { Mail } from './screens/mail.js';
import { Overview } from './screens/overview.js';
import { Reports } from './screens/reports.js';
import { Settings } from './screens/settings.js';
import { Setup } from './screens/setup.js';
import { Webhooks } from './screens/webhooks.js';
import { SessionContext } from './session.js';

/** The navigation: each entry's hash path and label. */
const NAV: Array<{ path: string; label: MessageKey }> = [
  { path: '/', label: 'nav.overview' },
  { path: '/mail', label: 'nav.mail' },
  { path: '/campaigns', label: 'nav.campaigns' },
  { path: '/reports', label: 'nav.reports' },
  { path: '/inbound', label: 'nav.inbound' },
  { path: '/webhooks', label: 'nav.webhooks' },
  { path: '/settings', label: 'nav.settings' },
];

type SessionState =
  | { kind: 'checking' }
  | { kind: 'signedIn'; session: Session }
  | { kind: 'signedOut'; notice?: MessageKey; setupRequired?: boolean; error?: unknown };

/** The whole dashboard: language, session, and the screen the hash names. */
export function App() {
  const [lang, setLangState] = useState<Language>(initialLanguage);
  const i18n = useMemo(
    () =>
      i18nFor(lang, (next) => {
        rememberLanguage(next);
        setLangState(next);
      }),
    [lang],
  );
  useEffect(() => rememberLanguage(lang), [lang]);
  return (
    <I18nContext.Provider value={i18n}>
      <Root />
    </I18nContext.Provider>
  );
}

function Root() {
  const route = useRoute();
  const [state, setState] = useState<SessionState>({ kind: 'checking' });
  const signedIn = (session: Session) => {
    setSessionToken(session.csrfToken);
    setState({ kind: 'signedIn', session });
    if (route.parts[0] === 'setup') navigate('/');
  };
  useEffect(() => {
    whenSessionLost(() => {
      setSessionToken(undefined);
      setState({ kind: 'signedOut', notice: 'session.expired' });
    });
    call<Session>('GET', '/auth/session', { quiet401: true }).then(signedIn, (error: unknown) => {
      const details = error instanceof ApiError ? (error.details as { setupRequired?: boolean }) : undefined;
      if (error instanceof ApiError && (error.code === 'SETUP_REQUIRED' || details?.setupRequired === true))
        setState({ kind: 'signedOut', setupRequired: true });
      else if (error instanceof ApiError && error.status === 401) setState({ kind: 'signedOut' });
      else setState({ kind: 'signedOut', error });
    });
  }, []);

  if (route.parts[0] === 'setup' && state.kind !== 'signedIn')
    return (
      <Frame>
        <Setup token={route.query.get('token') ?? ''} onSignedIn={signedIn} />
      </Frame>
    );
  if (state.kind === 'checking')
    return (
      <Frame>
        <main id="main">
          <Loading />
        </main>
      </Frame>
    );
  if (state.kind === 'signedOut') return <SignedOut state={state} onSignedIn={signedIn} />;
  return (
    <Shell
      session={state.session}
      route={route}
      onSignedOut={() => {
        setSessionToken(undefined);
        setState({ kind: 'signedOut' });
        // Whoever signs in next starts at the overview (an expired session keeps its screen).
        navigate('/');
      }}
    />
  );
}

function SignedOut({
  state,
  onSignedIn,
}: {
  state: Extract<SessionState, { kind: 'signedOut' }>;
  onSignedIn: (session: Session) => void;
}) {
  const { t } = useI18n();
  const noAuth = state.error instanceof ApiError && state.error.code === 'NOT_FOUND';
  const notice = state.setupRequired
    ? t('login.setupRequired')
    : state.notice
      ? t(state.notice)
      : noAuth
        ? t('app.noAuthRoutes')
        : undefined;
  return (
    <Frame>
      {state.error && !noAuth ? <ErrorNote error={state.error} /> : null}
      <Login onSignedIn={onSignedIn} notice={notice} />
    </Frame>
  );
}

/** The page around every screen: the skip link and the language switch. */
function Frame({ children, nav }: { children: ComponentChildren; nav?: ComponentChildren }) {
  const { t } = useI18n();
  return (
    <div class="page">
      <button type="button" class="skip" onClick={skipToMain}>
        {t('app.skip')}
      </button>
      <header class="top">
        <a class="brand" href={href('/')}>
          {t('app.name')}
        </a>
        {nav}
        <LanguageSwitch />
      </header>
      {children}
    </div>
  );
}

/** The skip link is a button: an `href="#main"` would change the hash route. */
function skipToMain(): void {
  const target = document.getElementById('screen-title') ?? document.getElementById('main');
  target?.focus();
}

function LanguageSwitch() {
  const { t, lang, setLang } = useI18n();
  return (
    <fieldset class="lang">
      <legend class="visually-hidden">{t('lang.label')}</legend>
      {LANGUAGES.map((code) => (
        <button
          key={code}
          type="button"
          lang={code}
          aria-pressed={lang === code}
          onClick={() => setLang(code)}
          data-lang={code}
        >
          {t(`lang.${code}` as MessageKey)}
        </button>
      ))}
    </fieldset>
  );
}

function Shell({ session, route, onSignedOut }: { session: Session; route: Route; onSignedOut: () => void }) {
  const { t } = useI18n();
  const [failure, setFailure] = useState<unknown>();
  const section = `/${route.parts[0] ?? ''}`;
  const signOut = async (path: '/auth/logout' | '/auth/logout-everywhere') => {
    try {
      await call('POST', path, { quiet401: true });
      onSignedOut();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onSignedOut();
      else setFailure(error);
    }
  };
  // A new screen moves focus to its heading, as a page load would for a screen reader.
  useEffect(() => {
    document.getElementById('screen-title')?.focus({ preventScroll: true });
  }, [route.path]);
  const nav = (
    <nav class="nav" aria-label={t('nav.label')}>
      {NAV.map((entry) => (
        <a
          key={entry.path}
          href={href(entry.path)}
          aria-current={section === entry.path ? 'page' : undefined}
        >
          {t(entry.label)}
        </a>
      ))}
    </nav>
  );
  const label = NAV.find((entry) => entry.path === section)?.label;
  return (
    <Frame nav={nav}>
      <div class="session">
        <span>{t('session.signedInAs', { email: session.user.email, role: session.user.role })}</span>
        <button type="button" onClick={() => signOut('/auth/logout')}>
          {t('session.signOut')}
        </button>
        <button type="button" onClick={() => signOut('/auth/logout-everywhere')}>
          {t('session.signOutEverywhere')}
        </button>
      </div>
      {failure ? <ErrorNote error={failure} /> : null}
      <main id="main">
        <SessionContext.Provider value={session}>
          {section === '/' ? (
            <Overview />
          ) : section === '/mail' ? (
            <Mail route={route} />
          ) : section === '/campaigns' ? (
            <Campaigns route={route} />
          ) : section === '/reports' ? (
            <Reports route={route} />
          ) : section === '/inbound' ? (
            <InboundScreen route={route} />
          ) : section === '/webhooks' ? (
            <Webhooks route={route} />
          ) : section === '/settings' ? (
            <Settings route={route} />
          ) : label ? (
            <Coming screen={t(label)} />
          ) : (
            <Overview />
          )}
        </SessionContext.Provider>
      </main>
    </Frame>
  );
}
