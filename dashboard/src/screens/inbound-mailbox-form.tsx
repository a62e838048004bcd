import { useState } from 'preact/hooks';
import { ApiError, call } from '../api.js';
import { ErrorNote } from '../common.js';
import { useI18n } from '../i18n/index.js';
import type { Mailbox } from './inbound-mailboxes.js';
import { FieldError, fieldProblems, problemsOf } from './ops-parts.js';

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
  const problems = fieldProblems(error);
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

  /** A labelled input's error wiring. */
  const described = (id: string, ...fields: string[]) => {
    const messages = fields.flatMap((f) => problemsOf(problems, f));
    return {
      messages,
      attrs: {
        'aria-invalid': messages.length > 0 ? true : undefined,
        'aria-describedby': messages.length > 0 ? `${id}-error` : undefined,
      },
    };
  };
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
  const authItself = problems.get('auth') ?? [];
  const titleId = `${prefix}-title`;
  return (
    <form class="card" onSubmit={submit} aria-labelledby={titleId} data-testid="mailbox-form" noValidate>
      <h3 id={titleId}>
        {mailbox
          ? t('inbound.mailbox.editTitle', { name: mailbox.name ?? mailbox.id })
          : t('inbound.mailbox.new')}
      </h3>
      <div class="ops-form">
        <label for={`${prefix}-name`}>{t('inbound.mailbox.field.name')}</label>
        <input
          id={`${prefix}-name`}
          required
          maxLength={100}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          {...f.name.attrs}
        />
        <FieldError id={`${prefix}-name`} messages={f.name.messages} />
        <label for={`${prefix}-host`}>{t('inbound.mailbox.field.host')}</label>
        <input
          id={`${prefix}-host`}
          required
          placeholder="imap.example.org"
          value={host}
          onInput={(e) => setHost(e.currentTarget.value)}
          {...f.host.attrs}
        />
        <FieldError id={`${prefix}-host`} messages={f.host.messages} />
        <label for={`${prefix}-port`}>{t('inbound.mailbox.field.port')}</label>
        <input
          id={`${prefix}-port`}
          inputMode="numeric"
          placeholder={tls === 'implicit' ? '993' : '143'}
          value={port}
          onInput={(e) => setPort(e.currentTarget.value)}
          {...f.port.attrs}
        />
        <FieldError id={`${prefix}-port`} messages={f.port.messages} />
        <label for={`${prefix}-tls`}>{t('inbound.mailbox.field.tls')}</label>
        <select
          id={`${prefix}-tls`}
          value={tls}
          onChange={(e) => setTls(e.currentTarget.value)}
          {...f.tls.attrs}
        >
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
        <FieldError id={`${prefix}-tls`} messages={f.tls.messages} />
        {oauth ? (
          <p class="muted ops-wide">{t('inbound.mailbox.oauthKept', { user })}</p>
        ) : (
          <>
            <label for={`${prefix}-user`}>{t('inbound.mailbox.field.user')}</label>
            <input
              id={`${prefix}-user`}
              required
              autoComplete="off"
              value={user}
              onInput={(e) => setUser(e.currentTarget.value)}
              {...f.user.attrs}
            />
            <FieldError id={`${prefix}-user`} messages={[...authItself, ...f.user.messages]} />
            <label for={`${prefix}-password`}>{t('inbound.mailbox.field.password')}</label>
            <input
              id={`${prefix}-password`}
              type="password"
              autoComplete="new-password"
              required={!mailbox}
              placeholder={mailbox ? t('inbound.mailbox.passwordKeep') : ''}
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
              {...f.password.attrs}
            />
            <FieldError id={`${prefix}-password`} messages={f.password.messages} />
          </>
        )}
        <label for={`${prefix}-folders`}>{t('inbound.mailbox.field.folders')}</label>
        <input
          id={`${prefix}-folders`}
          value={folders}
          onInput={(e) => setFolders(e.currentTarget.value)}
          {...f.folders.attrs}
        />
        <FieldError id={`${prefix}-folders`} messages={f.folders.messages} />
        <label for={`${prefix}-mode`}>{t('inbound.mailbox.field.mode')}</label>
        <select
          id={`${prefix}-mode`}
          value={mode}
          onChange={(e) => setMode(e.currentTarget.value)}
          {...f.mode.attrs}
        >
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
        <FieldError id={`${prefix}-mode`} messages={f.mode.messages} />
        <label for={`${prefix}-purpose`}>{t('inbound.mailbox.field.purpose')}</label>
        <select id={`${prefix}-purpose`} value={purpose} onChange={(e) => setPurpose(e.currentTarget.value)}>
          <option value="rules">{t('inbound.purpose.rules')}</option>
          <option value="bounces">{t('inbound.purpose.bounces')}</option>
        </select>
        {mailbox ? null : (
          <>
            <label for={`${prefix}-start`}>{t('inbound.mailbox.field.startFrom')}</label>
            <select
              id={`${prefix}-start`}
              value={startFrom}
              onChange={(e) => setStartFrom(e.currentTarget.value)}
            >
              <option value="new">{t('inbound.mailbox.start.new')}</option>
              <option value="all">{t('inbound.mailbox.start.all')}</option>
            </select>
          </>
        )}
        <label for={`${prefix}-allowlist`}>{t('inbound.mailbox.field.allowlist')}</label>
        <input
          id={`${prefix}-allowlist`}
          placeholder="@example.org, claire@example.net"
          value={allowlist}
          onInput={(e) => setAllowlist(e.currentTarget.value)}
          {...f.allowlist.attrs}
        />
        <FieldError id={`${prefix}-allowlist`} messages={f.allowlist.messages} />
        <label class="ops-check ops-wide">
          <input type="checkbox" checked={markSeen} onChange={(e) => setMarkSeen(e.currentTarget.checked)} />
          {t('inbound.mailbox.field.markSeen')}
        </label>
        <label for={`${prefix}-move-to`}>{t('inbound.mailbox.field.moveTo')}</label>
        <input
          id={`${prefix}-move-to`}
          value={moveTo}
          onInput={(e) => setMoveTo(e.currentTarget.value)}
          {...f.moveTo.attrs}
        />
        <FieldError id={`${prefix}-move-to`} messages={f.moveTo.messages} />
        <label for={`${prefix}-max-mb`}>{t('inbound.mailbox.field.maxMb')}</label>
        <input
          id={`${prefix}-max-mb`}
          inputMode="numeric"
          value={maxMb}
          onInput={(e) => setMaxMb(e.currentTarget.value)}
          {...f.maxMb.attrs}
        />
        <FieldError id={`${prefix}-max-mb`} messages={f.maxMb.messages} />
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
