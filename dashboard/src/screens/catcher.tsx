import { ApiError, get } from '../api.js';
import { DataTable, Facts, LoadedView, Pager, Screen, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import type { CaughtList, CaughtSummary } from '../types.js';
import { MailTabs } from './mail-parts.js';

/** What the built-in catcher received (when no SMTP relay is configured). */
export function CatcherInbox({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const before = route.query.get('before') ?? '';
  const loaded = useLoad(() => get<CaughtList>('/api/catcher/messages', { before, limit: 50 }), [before]);
  const off = loaded.error instanceof ApiError && loaded.error.code === 'NOT_FOUND';
  return (
    <Screen title={t('mail.title')}>
      <MailTabs current="catcher" />
      <div class="toolbar">
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {off ? (
        <p class="note">{t('mail.noCatcher')}</p>
      ) : (
        <LoadedView loaded={loaded} isEmpty={(data) => data.messages.length === 0}>
          {(data) => (
            <DataTable
              testid="caught"
              columns={[t('mail.subject'), t('mail.from'), t('mail.to'), t('mail.received')]}
              rows={data.messages}
              row={(m) => (
                <tr key={m.id}>
                  <td>
                    <a href={href(`/mail/catcher/${m.id}`)}>{m.subject || t('mail.noSubject')}</a>
                  </td>
                  <td>{m.from ?? ''}</td>
                  <td>{m.to.join(', ')}</td>
                  <td>{formatTime(m.receivedAt)}</td>
                </tr>
              )}
            />
          )}
        </LoadedView>
      )}
      <Pager
        current={before}
        next={loaded.data?.nextBefore}
        go={(b) => navigate('/mail/catcher', { before: b })}
      />
    </Screen>
  );
}

/**
 * One caught message: its headers, the message rendered in a sandboxed frame (no scripts, no
 * same-origin rights; its route sends a CSP of its own that blocks images from elsewhere), and
 * its source.
 */
export function CaughtMessage({ id }: { id: string }) {
  const { t, formatTime } = useI18n();
  const path = `/api/catcher/messages/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => get<CaughtSummary & { raw: string }>(path), [id]);
  const m = loaded.data;
  return (
    <Screen
      title={m ? m.subject || t('mail.noSubject') : t('mail.catcher')}
      actions={<a href={href('/mail/catcher')}>{t('app.back')}</a>}
    >
      <LoadedView loaded={loaded}>
        {(caught) => (
          <>
            <Facts
              facts={[
                [t('mail.from'), caught.from ?? ''],
                [t('mail.to'), caught.to.join(', ')],
                [t('mail.received'), formatTime(caught.receivedAt)],
                [t('mail.size'), `${caught.size} B`],
              ]}
            />
            <iframe
              class="rendered"
              title={t('mail.rendered')}
              sandbox=""
              referrerpolicy="no-referrer"
              src={`${path}/html`}
            />
            <details>
              <summary>{t('mail.raw')}</summary>
              <pre class="raw">{caught.raw}</pre>
            </details>
          </>
        )}
      </LoadedView>
    </Screen>
  );
}
