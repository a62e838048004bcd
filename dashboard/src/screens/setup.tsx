import { useState } from 'preact/hooks';
import { call, type Session } from '../api.js';
import { ErrorNote } from '../common.js';
import { useI18n } from '../i18n/index.js';

/** The first administrator, from the one-time setup link (`/#/setup?token=...`). */
export function Setup({ token, onSignedIn }: { token: string; onSignedIn: (session: Session) => void }) {
  const { t } = useI18n();
  const [form, setForm] = useState({ email: '', name: '', password: '' });
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const field = (name: keyof typeof form) => (e: { currentTarget: HTMLInputElement }) =>
    setForm((f) => ({ ...f, [name]: e.currentTarget.value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setFailure(undefined);
    try {
      onSignedIn(await call<Session>('POST', '/auth/setup', { body: { token, ...form }, quiet401: true }));
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <h1>{t('setup.title')}</h1>
      {token ? null : (
        <p class="note note-error" role="alert">
          {t('setup.noToken')}
        </p>
      )}
      <form class="card" onSubmit={submit}>
        <p>{t('setup.intro')}</p>
        <label for="setup-email">{t('login.email')}</label>
        <input
          id="setup-email"
          type="email"
          autocomplete="username"
          required
          value={form.email}
          onInput={field('email')}
        />
        <label for="setup-name">{t('setup.name')}</label>
        <input id="setup-name" autocomplete="name" required value={form.name} onInput={field('name')} />
        <label for="setup-password">{t('login.password')}</label>
        <input
          id="setup-password"
          type="password"
          autocomplete="new-password"
          required
          value={form.password}
          onInput={field('password')}
        />
        {failure ? <ErrorNote error={failure} /> : null}
        <button type="submit" class="primary" disabled={busy || !token}>
          {t('setup.submit')}
        </button>
      </form>
    </main>
  );
}
