import { useState } from 'preact/hooks';
import { ApiError, call } from '../api.js';
import { ErrorNote, Field, fieldProblems, fieldsOf } from '../common.js';
import { useI18n } from '../i18n/index.js';
import type { Mailbox } from './inbound-mailboxes.js';

/** A list written with commas or line breaks, as an array. */
const listOf = (text: string): string[] =>
  text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Adds a mailbox (no `mailbox`) or edits one: the same form. The password is never shown back
 * (the API seals it); left empty on an edit, the credentials are kept.
 */
export function MailboxForm({
  mailbox,
  onSaved,
  onCancel,
}: {
  mailbox?: Mailbox;
  onSaved: (name: string) => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const oauth = mailbox?.auth.type === 'oauth2';
  const [name, setName] = useState(mailbox?.name ?? '');
  const [host, setHost] = useState(mailbox?.host ?? '');
  const [port, setPort] = useState(mailbox?.port === undefined ? '' : String(mailbox.port));
  const [tls, setTls] = useState<string>(mailbox?.tls ?? 'implicit');
  const [tlsVerify, setTlsVerify] = useState(mailbox?.tlsVerify ?? true);
  const [user, setUser] = useState(mailbox?.auth.user ?? '');
  const [password, setPassword] = useState('');
  const [folders, setFolders] = useState((mailbox?.folders ?? ['INBOX']).join(', '));
  const [mode, setMode] = useState<string>(mailbox?.mode ?? 'idle');
  const [pollInterval, setPollInterval] = useState(mailbox?.pollInterval ?? '30s');
  const [purpose, setPurpose] = useState(mailbox?.purpose ?? 'rules');
  const [allowlist, setAllowlist] = useState((mailbox?.senderAllowlist ?? []).join(', '));
  const [markSeen, setMarkSeen] = useState(mailbox?.afterHandled?.markSeen ?? true);
  const [moveTo, setMoveTo] = useState(mailbox?.afterHandled?.moveTo ?? '');
  const [startFrom, setStartFrom] = useState('new');
  const [maxMb, setMaxMb] = useState(String(mailbox?.maxMessageMb ?? 25));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const prefix = mailbox ? 'mailbox-edit' : 'mailbox-new';

  const body = (): Record<string, unknown> => {
    const settings: Record<string, unknown> = {
      name,
      host,
      tls,
      tlsVerify,
      folders: listOf(folders),
      mode,
      pollInterval,
      purpose,
      senderAllowlist: listOf(allowlist),
      afterHandled: { ...mailbox?.afterHandled, markSeen, moveTo: moveTo.trim() || null },
      maxMessageMb: Number(maxMb),
    };
    if (port.trim()) settings.port = Number(port);
    if (!mailbox) settings.startFrom = startFrom;
    if (!oauth && (password || !mailbox)) settings.auth = { type: 'password', user, password };
    return settings;
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    if (mailbox && !oauth && !password && user !== mailbox.auth.user) {
      // The API replaces the credentials whole: a new user needs its password.
      setError(
        new ApiError(400, 'VALIDATION_FAILED', t('inbound.mailbox.passwordForUser'), [
          { field: 'auth.password', message: t('inbound.mailbox.passwordForUser') },
        ]),
      );
      return;
    }
    setBusy(true);
    try {
      if (mailbox) {
        await call('PATCH', `/api/mailboxes/${encodeURIComponent(mailbox.id)}`, { body: body() });
      } else {
        await call('POST', '/api/mailboxes', { body: body() });
      }
      onSaved(name);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const described = fieldsOf(error);
  const f = {
    name: described(`${prefix}-name`, 'name'),
    host: described(`${prefix}-host`, 'host'),
    port: described(`${prefix}-port`, 'port'),
    tls: described(`${prefix}-tls`, 'tls', 'tlsVerify'),
    user: described(`${prefix}-user`, 'auth.user', 'auth.type'),
    password: described(`${prefix}-password`, 'auth.password'),
    folders: described(`${prefix}-folders`, 'folders'),
    mode: described(`${prefix}-mode`, 'mode', 'pollInterval'),
    allowlist: described(`${prefix}-allowlist`, 'senderAllowlist'),
    moveTo: described(`${prefix}-move-to`, 'afterHandled'),
    maxMb: described(`${prefix}-max-mb`, 'maxMessageMb'),
  };
  // `auth` itself (a missing object, a wrong shape) is shown under the user.
  const authItself = fieldProblems(error).get('auth') ?? [];
  const titleId = `${prefix}-title`;
  return (
    <form class="card" onSubmit={submit} aria-labelledby={titleId} data-testid="mailbox-form" noValidate>
      <h3 id={titleId}>
        {mailbox
          ? t('inbound.mailbox.editTitle', { name: mailbox.name ?? mailbox.id })
          : t('inbound.mailbox.new')}
      </h3>
      <div class="ops-form">
        <Field label={t('inbound.mailbox.field.name')} field={f.name}>
          <input
            {...f.name.attrs}
            required
            maxLength={100}
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('inbound.mailbox.field.host')} field={f.host}>
          <input
            {...f.host.attrs}
            required
            placeholder="imap.example.org"
            value={host}
            onInput={(e) => setHost(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('inbound.mailbox.field.port')} field={f.port}>
          <input
            {...f.port.attrs}
            inputMode="numeric"
            placeholder={tls === 'implicit' ? '993' : '143'}
            value={port}
            onInput={(e) => setPort(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('inbound.mailbox.field.tls')} field={f.tls}>
          <select {...f.tls.attrs} value={tls} onChange={(e) => setTls(e.currentTarget.value)}>
            <option value="implicit">{t('inbound.mailbox.tls.implicit')}</option>
            <option value="starttls">{t('inbound.mailbox.tls.starttls')}</option>
            <option value="none">{t('inbound.mailbox.tls.none')}</option>
          </select>
          <label class="ops-check ops-wide">
            <input
              type="checkbox"
              checked={tlsVerify}
              onChange={(e) => setTlsVerify(e.currentTarget.checked)}
            />
            {t('inbound.mailbox.field.tlsVerify')}
          </label>
        </Field>
        {oauth ? (
          <p class="muted ops-wide">{t('inbound.mailbox.oauthKept', { user })}</p>
        ) : (
          <>
            <Field
              label={t('inbound.mailbox.field.user')}
              field={f.user}
              messages={[...authItself, ...f.user.messages]}
            >
              <input
                {...f.user.attrs}
                required
                autoComplete="off"
                value={user}
                onInput={(e) => setUser(e.currentTarget.value)}
              />
            </Field>
            <Field label={t('inbound.mailbox.field.password')} field={f.password}>
              <input
                {...f.password.attrs}
                type="password"
                autoComplete="new-password"
                required={!mailbox}
                placeholder={mailbox ? t('inbound.mailbox.passwordKeep') : ''}
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </Field>
          </>
        )}
        <Field label={t('inbound.mailbox.field.folders')} field={f.folders}>
          <input {...f.folders.attrs} value={folders} onInput={(e) => setFolders(e.currentTarget.value)} />
        </Field>
        <Field label={t('inbound.mailbox.field.mode')} field={f.mode}>
          <select {...f.mode.attrs} value={mode} onChange={(e) => setMode(e.currentTarget.value)}>
            <option value="idle">{t('inbound.mailbox.mode.idle')}</option>
            <option value="poll">{t('inbound.mailbox.mode.poll')}</option>
          </select>
          <label for={`${prefix}-poll`}>{t('inbound.mailbox.field.pollInterval')}</label>
          <input
            id={`${prefix}-poll`}
            placeholder="30s"
            value={pollInterval}
            onInput={(e) => setPollInterval(e.currentTarget.value)}
          />
        </Field>
        <Field label={t('inbound.mailbox.field.purpose')} id={`${prefix}-purpose`}>
          <select
            id={`${prefix}-purpose`}
            value={purpose}
            onChange={(e) => setPurpose(e.currentTarget.value)}
          >
            <option value="rules">{t('inbound.purpose.rules')}</option>
            <option value="bounces">{t('inbound.purpose.bounces')}</option>
          </select>
        </Field>
        {mailbox ? null : (
          <Field label={t('inbound.mailbox.field.startFrom')} id={`${prefix}-start`}>
            <select
              id={`${prefix}-start`}
              value={startFrom}
              onChange={(e) => setStartFrom(e.currentTarget.value)}
            >
              <option value="new">{t('inbound.mailbox.start.new')}</option>
              <option value="all">{t('inbound.mailbox.start.all')}</option>
            </select>
          </Field>
        )}
        <Field label={t('inbound.mailbox.field.allowlist')} field={f.allowlist}>
          <input
            {...f.allowlist.attrs}
            placeholder="@example.org, claire@example.net"
            value={allowlist}
            onInput={(e) => setAllowlist(e.currentTarget.value)}
          />
        </Field>
        <label class="ops-check ops-wide">
          <input type="checkbox" checked={markSeen} onChange={(e) => setMarkSeen(e.currentTarget.checked)} />
          {t('inbound.mailbox.field.markSeen')}
        </label>
        <Field label={t('inbound.mailbox.field.moveTo')} field={f.moveTo}>
          <input {...f.moveTo.attrs} value={moveTo} onInput={(e) => setMoveTo(e.currentTarget.value)} />
        </Field>
        <Field label={t('inbound.mailbox.field.maxMb')} field={f.maxMb}>
          <input
            {...f.maxMb.attrs}
            inputMode="numeric"
            value={maxMb}
            onInput={(e) => setMaxMb(e.currentTarget.value)}
          />
        </Field>
      </div>
      {error ? <ErrorNote error={error} /> : null}
      <div class="ops-actions">
        <button type="submit" class="primary" disabled={busy}>
          {mailbox ? t('inbound.mailbox.save') : t('inbound.mailbox.create')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('inbound.mailbox.cancel')}
        </button>
      </div>
    </form>
  );
}
