import { useState } from 'preact/hooks';
import { ApiError, call, type Session } from '../api.js';
import { ErrorNote } from '../common.js';
import { useI18n } from '../i18n/index.js';

/** How long a locked login waits, in the user's words ("2 min", "45 s"). */
function waitText(seconds: number): string {
  return seconds >= 90 ? `${Math.ceil(seconds / 60)} min` : `${Math.ceil(seconds)} s`;
}

/** The sign-in screen: a password form and an "email me a link" form. */
export function Login({
  onSignedIn,
  notice,
}: {
  onSignedIn: (session: Session) => void;
  notice?: string | undefined;
}) {
  const { t } = useI18n();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [failure, setFailure] = useState<string | ApiError | undefined>();
  const [busy, setBusy] = useState(false);
  const [magicEmail, setMagicEmail] = useState('');
  const [magicSent, setMagicSent] = useState<string | undefined>();
  const [magicFailure, setMagicFailure] = useState<unknown>();

  const signIn = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFailure(undefined);
    try {
      onSignedIn(await call<Session>('POST', '/auth/login', { body: { email, password }, quiet401: true }));
    } catch (error) {
      if (error instanceof ApiError && error.code === 'AUTH_INVALID') setFailure(t('login.wrong'));
      else if (error instanceof ApiError && error.code === 'LOGIN_LOCKED')
        setFailure(t('login.locked', { time: waitText(error.retryAfterSeconds ?? 60) }));
      else setFailure(error as ApiError);
    } finally {
      setBusy(false);
    }
  };

  const sendLink = async (event: Event) => {
    event.preventDefault();
    setMagicSent(undefined);
    setMagicFailure(undefined);
    try {
      await call('POST', '/auth/magic-link', { body: { email: magicEmail }, quiet401: true });
      setMagicSent(magicEmail);
    } catch (error) {
      setMagicFailure(error);
    }
  };

  return (
    <main id="main" class="login">
      <h1>{t('login.title')}</h1>
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <form class="card" onSubmit={signIn} aria-labelledby="login-password-title">
        <h2 id="login-password-title">{t('login.password.title')}</h2>
        <label for="login-email">{t('login.email')}</label>
        <input
          id="login-email"
          name="email"
          type="email"
          autocomplete="username"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="login-password">{t('login.password')}</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {typeof failure === 'string' ? (
          <p class="note note-error" role="alert">
            {failure}
          </p>
        ) : failure ? (
          <ErrorNote error={failure} />
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {t('login.submit')}
        </button>
      </form>
      <form class="card" onSubmit={sendLink} aria-labelledby="login-magic-title">
        <h2 id="login-magic-title">{t('login.magic.title')}</h2>
        <label for="magic-email">{t('login.email')}</label>
        <input
          id="magic-email"
          name="email"
          type="email"
          autocomplete="email"
          required
          value={magicEmail}
          onInput={(e) => setMagicEmail(e.currentTarget.value)}
        />
        {magicSent ? (
          <p class="note" role="status">
            {t('login.magic.sent', { email: magicSent })}
          </p>
        ) : null}
        {magicFailure ? <ErrorNote error={magicFailure} /> : null}
        <button type="submit">{t('login.magic.submit')}</button>
      </form>
    </main>
  );
}
