import { get } from '../api.js';
import { DataTable, Facts, FilterBar, LoadedView, Pager, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import type { Attempt, MessageList, MessageStatus, MessageSummary } from '../types.js';
import { CatcherInbox, CaughtMessage } from './catcher.js';
import { MailTabs } from './mail-parts.js';

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
  const q = route.query.get('q') ?? '';
  const loaded = useLoad(
    () => get<MessageList>('/api/messages', { status, q, before, limit: 50 }),
    [status, q, before],
  );
  const search = (event: Event) => {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget as HTMLFormElement).get('q') ?? '').trim();
    navigate('/mail', { status: status || undefined, q: text || undefined });
  };
  return (
    <Screen title={t('mail.title')}>
      <MailTabs current="messages" />
      <FilterBar
        id="mail-status"
        label={t('mail.filter')}
        value={status}
        allLabel={t('mail.all')}
        options={STATUSES.map((s) => ({ value: s, label: t(`mail.status.${s}` as MessageKey) }))}
        onChange={(value) => navigate('/mail', { status: value, q: q || undefined })}
        onRefresh={loaded.reload}
      >
        <search>
          <form class="search" onSubmit={search}>
            <label for="mail-search">{t('mail.search')}</label>
            <input
              id="mail-search"
              name="q"
              type="search"
              maxLength={200}
              defaultValue={q}
              placeholder={t('mail.searchHint')}
            />
            <button type="submit">{t('mail.searchButton')}</button>
          </form>
        </search>
      </FilterBar>
      <LoadedView
        loaded={loaded}
        isEmpty={(data) => data.messages.length === 0}
        empty={q ? t('mail.noMatch', { q }) : undefined}
      >
        {(data) => (
          <DataTable
            testid="messages"
            columns={[t('mail.subject'), t('mail.to'), t('mail.statusCol'), t('mail.created')]}
            rows={data.messages}
            row={(m) => (
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
            )}
          />
        )}
      </LoadedView>
      <Pager
        current={before}
        next={loaded.data?.nextBefore}
        go={(b) => navigate('/mail', { status, q: q || undefined, before: b })}
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
      <LoadedView loaded={loaded}>
        {(m) => (
          <>
            <Facts
              testid="message"
              facts={[
                [
                  t('mail.statusCol'),
                  <StatusBadge status={m.status} label={t(`mail.status.${m.status}` as MessageKey)} />,
                ],
                [t('mail.from'), m.from],
                [t('mail.to'), m.to.join(', ')],
                [t('mail.messageId'), <code class="code">{m.messageId}</code>],
                [t('mail.created'), formatTime(m.createdAt)],
                m.sentAt ? [t('mail.sentAt'), formatTime(m.sentAt)] : null,
                m.nextAttemptAt ? [t('mail.nextAttempt'), formatTime(m.nextAttemptAt)] : null,
                m.lastError
                  ? [
                      t('mail.lastError'),
                      <>
                        <code class="code">{m.lastError.code}</code> {m.lastError.message}
                      </>,
                    ]
                  : null,
              ]}
            />
            <h2>{t('mail.attempts')}</h2>
            {m.attempts.length === 0 ? (
              <p class="muted">{t('app.none')}</p>
            ) : (
              <DataTable
                testid="attempts"
                columns={[
                  t('mail.attempt'),
                  t('mail.outcome'),
                  t('mail.reply'),
                  t('mail.transport'),
                  t('mail.duration'),
                ]}
                rows={m.attempts}
                row={(a) => (
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
                )}
              />
            )}
          </>
        )}
      </LoadedView>
    </Screen>
  );
}
