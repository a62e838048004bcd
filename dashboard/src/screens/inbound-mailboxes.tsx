import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, LoadedView, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { useRoleAtLeast } from '../session.js';
import { MailboxForm } from './inbound-mailbox-form.js';
import { ConfirmDelete, Reconnecting, useEventStream } from './ops-parts.js';

/** A folder watcher of a mailbox, as `GET /api/mailboxes` shows it. */
export interface Watcher {
  folder: string;
  state: string;
  connectedSince: string | null;
  lastSuccessAt: string | null;
  lastError: { code: string; message: string; at: string } | null;
  lagSeconds: number | null;
  recorded: number;
}

/** A mailbox: its settings as written (credentials never shown back) and its watchers. */
export interface Mailbox {
  id: string;
  name?: string;
  host?: string;
  port?: number;
  tls?: 'implicit' | 'starttls' | 'none';
  tlsVerify?: boolean;
  status: 'active' | 'paused';
  purpose: string;
  auth: { type: string; user: string };
  folders?: string[];
  mode?: 'idle' | 'poll';
  pollInterval?: string;
  senderAllowlist?: string[];
  afterHandled?: { markSeen?: boolean; moveTo?: string | null; addFlag?: string | null };
  startFrom?: unknown;
  maxMessageMb?: number;
  watchers: Watcher[];
  version: number;
}

const WATCHER_STATES = ['starting', 'connecting', 'idle', 'polling', 'fetching', 'backoff', 'standby'];

/** A watcher's state in words and colour. */
function WatcherState({ state }: { state: string }) {
  const { t } = useI18n();
  const label = WATCHER_STATES.includes(state) ? t(`inbound.watcher.${state}` as MessageKey) : state;
  return <StatusBadge status={state} label={label} />;
}

/**
 * The mailboxes and their watchers, kept live by `GET /api/mailboxes/events`; operators pause
 * and resume them, administrators add, edit and delete them (the API's roles).
 */
export function Mailboxes() {
  const { t } = useI18n();
  const canOperate = useRoleAtLeast('operator');
  const canAdmin = useRoleAtLeast('admin');
  const loaded = useLoad(() => get<{ mailboxes: Mailbox[] }>('/api/mailboxes'), []);
  const [live, setLive] = useState<{ mailboxes: Mailbox[] }>();
  const stream = useEventStream<{ mailboxes: Mailbox[] }>('/api/mailboxes/events', 'mailboxes', setLive);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState<string | 'new'>();
  const [notice, setNotice] = useState<string>();
  const run = async (action: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      await action();
      if (done) setNotice(done);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const path = (id: string) => `/api/mailboxes/${encodeURIComponent(id)}`;
  // A load (at first, or after a change made here) replaces the stream's view until its next push.
  useEffect(() => setLive(undefined), [loaded.data]);
  const data = live ?? loaded.data;
  const shown = { ...loaded, data };
  const editingMailbox = data?.mailboxes.find((m) => m.id === editing);
  const saved = (name: string, created: boolean) => {
    setEditing(undefined);
    setNotice(t(created ? 'inbound.mailbox.created' : 'inbound.mailbox.saved', { name }));
    loaded.reload();
  };
  return (
    <section aria-labelledby="mailboxes-title">
      <h2 id="mailboxes-title">{t('inbound.mailboxes')}</h2>
      <p class="muted">{t(canAdmin ? 'inbound.mailboxes.hintAdmin' : 'inbound.mailboxes.hint')}</p>
      <Reconnecting down={stream.down} />
      {error ? <ErrorNote error={error} /> : null}
      {notice ? (
        <p class="note" role="status">
          {notice}
        </p>
      ) : null}
      <LoadedView
        loaded={shown}
        isEmpty={(d) => d.mailboxes.length === 0}
        empty={t('inbound.mailboxes.none')}
      >
        {(d) => (
          <DataTable
            testid="mailboxes"
            columns={[
              t('inbound.mailbox.name'),
              t('inbound.mailbox.status'),
              t('inbound.mailbox.watchers'),
              canOperate && t('inbound.mailbox.actions'),
            ]}
            rows={d.mailboxes}
            row={(m) => (
              <tr key={m.id}>
                <td>
                  <strong>{m.name ?? m.id}</strong>
                  <div class="muted">
                    {m.auth.user}
                    {m.host ? ` @ ${m.host}` : ''} · {t(`inbound.purpose.${m.purpose}` as MessageKey)}
                  </div>
                </td>
                <td>
                  <StatusBadge
                    status={m.status}
                    label={t(m.status === 'paused' ? 'inbound.mailbox.paused' : 'inbound.mailbox.active')}
                  />
                </td>
                <td data-testid="watchers">
                  <Watchers watchers={m.watchers} />
                </td>
                {canOperate ? (
                  <td>
                    <div class="ops-row-actions">
                      <button
                        type="button"
                        disabled={busy}
                        onClick={() =>
                          run(() =>
                            call('POST', `${path(m.id)}/${m.status === 'paused' ? 'resume' : 'pause'}`),
                          )
                        }
                      >
                        {t(m.status === 'paused' ? 'inbound.mailbox.resume' : 'inbound.mailbox.pause')}
                      </button>
                      {canAdmin ? (
                        <>
                          <button type="button" disabled={busy} onClick={() => setEditing(m.id)}>
                            {t('inbound.mailbox.edit')}
                          </button>
                          <ConfirmDelete
                            name={m.name ?? m.id}
                            busy={busy}
                            onConfirm={() =>
                              run(
                                () => call('DELETE', path(m.id)),
                                t('inbound.mailbox.deleted', { name: m.name ?? m.id }),
                              )
                            }
                          />
                        </>
                      ) : null}
                    </div>
                  </td>
                ) : null}
              </tr>
            )}
          />
        )}
      </LoadedView>
      {canAdmin && editing === undefined ? (
        <div class="ops-actions">
          <button type="button" onClick={() => setEditing('new')}>
            {t('inbound.mailbox.add')}
          </button>
        </div>
      ) : null}
      {canAdmin && editing === 'new' ? (
        <MailboxForm onSaved={(name) => saved(name, true)} onCancel={() => setEditing(undefined)} />
      ) : null}
      {canAdmin && editingMailbox ? (
        <MailboxForm
          key={editingMailbox.id}
          mailbox={editingMailbox}
          onSaved={(name) => saved(name, false)}
          onCancel={() => setEditing(undefined)}
        />
      ) : null}
    </section>
  );
}

function Watchers({ watchers }: { watchers: Watcher[] }) {
  const { t, formatTime } = useI18n();
  if (watchers.length === 0) return <span class="muted">{t('inbound.watcher.none')}</span>;
  return (
    <>
      {watchers.map((w) => (
        <div key={w.folder}>
          <code class="code">{w.folder}</code> <WatcherState state={w.state} />
          {w.lastSuccessAt ? (
            <span class="muted">
              {' '}
              {t('inbound.watcher.lastSuccess', { time: formatTime(w.lastSuccessAt) })}
            </span>
          ) : null}
          {w.lastError ? (
            <div>
              <code class="code">{w.lastError.code}</code> {w.lastError.message} ({formatTime(w.lastError.at)}
              )
            </div>
          ) : null}
        </div>
      ))}
    </>
  );
}
