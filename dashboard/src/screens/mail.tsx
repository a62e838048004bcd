import { get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import type { Attempt, MessageList, MessageStatus, MessageSummary } from '../types.js';
import { CatcherInbox, CaughtMessage } from './catcher.js';
import { MailTabs, Pager } from './mail-parts.js';

const STATUSES: MessageStatus[] = ['queued', 'sending', 'sent', 'failed'];

/** `#/mail` (sent messages), `#/mail/:id`, `#/mail/catcher` and `#/mail/catcher/:id`. */
export function Mail({ route }: { route: Route }) {
  const [, first, second] = route.parts;
  if (first === 'catcher') return second ? <CaughtMessage id={second} /> : <CatcherInbox route={route} />;
  if (first) return <MessageDetail id={first} />;
  return <Messages route={route} />;
}

function Messages({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const status = route.query.get('status') ?? '';
  const before = route.query.get('before') ?? '';
  const loaded = useLoad(
    () => get<MessageList>('/api/messages', { status, before, limit: 50 }),
    [status, before],
  );
  return (
    <Screen title={t('mail.title')}>
      <MailTabs current="messages" />
      <div class="toolbar">
        <label for="mail-status">{t('mail.filter')}</label>
        <select
          id="mail-status"
          value={status}
          onChange={(e) => navigate('/mail', { status: e.currentTarget.value })}
        >
          <option value="">{t('mail.all')}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`mail.status.${s}` as MessageKey)}
            </option>
          ))}
        </select>
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.messages.length === 0 ? (
        <p class="muted">{t('app.none')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="messages">
            <thead>
              <tr>
                <th scope="col">{t('mail.subject')}</th>
                <th scope="col">{t('mail.to')}</th>
                <th scope="col">{t('mail.statusCol')}</th>
                <th scope="col">{t('mail.created')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.messages.map((m) => (
                <tr key={m.id}>
                  <td>
                    <a href={href(`/mail/${m.id}`)}>{m.subject || t('mail.noSubject')}</a>
                  </td>
                  <td>{m.to.join(', ')}</td>
                  <td>
                    <StatusBadge status={m.status} label={t(`mail.status.${m.status}` as MessageKey)} />
                  </td>
                  <td>{formatTime(m.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        before={before}
        next={loaded.data?.nextBefore ?? null}
        go={(b) => navigate('/mail', { status, before: b })}
      />
    </Screen>
  );
}

function MessageDetail({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const loaded = useLoad(
    () => get<MessageSummary & { attempts: Attempt[] }>(`/api/messages/${encodeURIComponent(id)}`),
    [id],
  );
  const m = loaded.data;
  return (
    <Screen
      title={m ? m.subject || t('mail.noSubject') : t('mail.title')}
      actions={<a href={href('/mail')}>{t('app.back')}</a>}
    >
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!m ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <dl class="facts" data-testid="message">
            <dt>{t('mail.statusCol')}</dt>
            <dd>
              <StatusBadge status={m.status} label={t(`mail.status.${m.status}` as MessageKey)} />
            </dd>
            <dt>{t('mail.from')}</dt>
            <dd>{m.from}</dd>
            <dt>{t('mail.to')}</dt>
            <dd>{m.to.join(', ')}</dd>
            <dt>{t('mail.messageId')}</dt>
            <dd>
              <code class="code">{m.messageId}</code>
            </dd>
            <dt>{t('mail.created')}</dt>
            <dd>{formatTime(m.createdAt)}</dd>
            {m.sentAt ? (
              <>
                <dt>{t('mail.sentAt')}</dt>
                <dd>{formatTime(m.sentAt)}</dd>
              </>
            ) : null}
            {m.nextAttemptAt ? (
              <>
                <dt>{t('mail.nextAttempt')}</dt>
                <dd>{formatTime(m.nextAttemptAt)}</dd>
              </>
            ) : null}
            {m.lastError ? (
              <>
                <dt>{t('mail.lastError')}</dt>
                <dd>
                  <code class="code">{m.lastError.code}</code> {m.lastError.message}
                </dd>
              </>
            ) : null}
          </dl>
          <h2>{t('mail.attempts')}</h2>
          {m.attempts.length === 0 ? (
            <p class="muted">{t('app.none')}</p>
          ) : (
            <div class="table-wrap">
              <table data-testid="attempts">
                <thead>
                  <tr>
                    <th scope="col">{t('mail.attempt')}</th>
                    <th scope="col">{t('mail.outcome')}</th>
                    <th scope="col">{t('mail.reply')}</th>
                    <th scope="col">{t('mail.transport')}</th>
                    <th scope="col">{t('mail.duration')}</th>
                  </tr>
                </thead>
                <tbody>
                  {m.attempts.map((a) => (
                    <tr key={a.number}>
                      <td>{a.number}</td>
                      <td>
                        <StatusBadge status={a.outcome} />
                      </td>
                      <td>
                        {a.smtpCode && !a.smtpResponse?.startsWith(String(a.smtpCode)) ? (
                          <code class="code">{a.smtpCode}</code>
                        ) : null}{' '}
                        {a.smtpResponse ?? a.errorMessage ?? ''}
                      </td>
                      <td>{a.transport ?? ''}</td>
                      <td>{a.durationMs === null ? '' : `${a.durationMs} ms`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Screen>
  );
}
