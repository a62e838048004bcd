import './campaigns.css';
import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, StatusBadge, useLoad } from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import {
  type Campaign,
  type CampaignList,
  isOver,
  type Progress,
  RECIPIENT_STATES,
  type RecipientPage,
} from './campaigns-api.js';
import { CampaignCheck, NewCampaign } from './campaigns-new.js';

/** `#/campaigns` (the list), `#/campaigns/new` and `#/campaigns/:id` (live progress, recipients). */
export function Campaigns({ route }: { route: Route }) {
  const [, first] = route.parts;
  if (first === 'new') return <NewCampaign />;
  if (first) return <CampaignDetail key={first} id={first} route={route} />;
  return <CampaignsList route={route} />;
}

/** "sent 3 · failed 1": the states that have rows. */
export function CountsText({ progress }: { progress: Progress }) {
  const { t } = useI18n();
  const parts = RECIPIENT_STATES.filter((s) => progress.counts[s] > 0).map(
    (s) => `${t(`campaigns.state.${s}` as MessageKey)} ${progress.counts[s]}`,
  );
  return <span>{parts.length ? parts.join(' · ') : t('campaigns.noRecipients')}</span>;
}

function CampaignsList({ route }: { route: Route }) {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const before = route.query.get('before') ?? '';
  const loaded = useLoad(() => get<CampaignList>('/api/campaigns', { before, limit: 20 }), [before]);
  return (
    <Screen
      title={t('campaigns.title')}
      actions={
        canChange ? (
          <a class="campaigns-action" href={href('/campaigns/new')}>
            {t('campaigns.new')}
          </a>
        ) : null
      }
    >
      <div class="toolbar">
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.campaigns.length === 0 ? (
        <p class="muted">{t('campaigns.empty')}</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="campaigns">
            <thead>
              <tr>
                <th scope="col">{t('campaigns.name')}</th>
                <th scope="col">{t('campaigns.status')}</th>
                <th scope="col">{t('campaigns.counts')}</th>
                <th scope="col">{t('campaigns.created')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.campaigns.map((c) => (
                <tr key={c.id}>
                  <td>
                    <a href={href(`/campaigns/${c.id}`)}>{c.name}</a>
                  </td>
                  <td>
                    <CampaignBadge status={c.status} />
                  </td>
                  <td>
                    <CountsText progress={c.progress} />
                  </td>
                  <td>{formatTime(c.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {before || loaded.data?.nextBefore ? (
        <div class="toolbar">
          {before ? (
            <button type="button" onClick={() => navigate('/campaigns')}>
              {t('app.newest')}
            </button>
          ) : null}
          {loaded.data?.nextBefore ? (
            <button
              type="button"
              onClick={() => navigate('/campaigns', { before: loaded.data?.nextBefore ?? undefined })}
            >
              {t('app.older')}
            </button>
          ) : null}
        </div>
      ) : null}
    </Screen>
  );
}

/** A campaign's state, in words. */
export function CampaignBadge({ status }: { status: Campaign['status'] }) {
  const { t } = useI18n();
  return <StatusBadge status={`campaign-${status}`} label={t(`campaigns.status.${status}` as MessageKey)} />;
}

/** Seconds as "1 h 02 min", "3 min 05 s" or "12 s". */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600)
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${s} s`;
}

/**
 * The campaign's view, kept live by its event stream (`progress` when it changes, `end` when it
 * is over). `round` reopens the stream after an action that makes it run again.
 */
function useLiveCampaign(id: string) {
  const loaded = useLoad(() => get<Campaign>(`/api/campaigns/${encodeURIComponent(id)}`), [id]);
  const [live, setLive] = useState<Campaign | undefined>();
  const [round, setRound] = useState(0);
  const [interrupted, setInterrupted] = useState(false);
  const campaign = live ?? loaded.data;
  const over = campaign ? isOver(campaign.status) : true;
  useEffect(() => {
    if (!loaded.data || over) return;
    const source = new EventSource(`/api/campaigns/${encodeURIComponent(id)}/events`);
    source.addEventListener('progress', (event) => {
      setInterrupted(false);
      setLive(JSON.parse((event as MessageEvent<string>).data) as Campaign);
    });
    source.addEventListener('end', () => {
      source.close();
      setInterrupted(false);
      // The last progress came just before; read it once more so that nothing is missed.
      get<Campaign>(`/api/campaigns/${encodeURIComponent(id)}`).then(setLive, () => undefined);
    });
    // EventSource reconnects by itself; say so meanwhile.
    source.onerror = () => setInterrupted(source.readyState !== EventSource.OPEN);
    return () => source.close();
  }, [id, loaded.data === undefined, over, round]);
  return {
    campaign,
    error: loaded.error,
    reload: loaded.reload,
    interrupted,
    update: (next: Campaign) => {
      setLive(next);
      setRound((r) => r + 1);
    },
  };
}

function CampaignDetail({ id, route }: { id: string; route: Route }) {
  const { t, formatTime } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const live = useLiveCampaign(id);
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | undefined>();
  const c = live.campaign;

  const act = async (action: 'start' | 'pause' | 'resume' | 'cancel' | 'retry-failed') => {
    if (action === 'cancel' && !confirm(t('campaigns.cancelConfirm'))) return;
    setBusy(true);
    setFailure(undefined);
    setNotice(undefined);
    try {
      const next = await call<Campaign & { requeued?: number }>(
        'POST',
        `/api/campaigns/${encodeURIComponent(id)}/${action}`,
      );
      if (action === 'retry-failed') setNotice(t('campaigns.requeued', { count: next.requeued ?? 0 }));
      live.update(next);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Screen
      title={c ? c.name : t('campaigns.title')}
      actions={<a href={href('/campaigns')}>{t('campaigns.back')}</a>}
    >
      {live.error ? <ErrorNote error={live.error} onRetry={live.reload} /> : null}
      {!c ? (
        live.error ? null : (
          <Loading />
        )
      ) : (
        <>
          <ProgressPanel campaign={c} interrupted={live.interrupted} />
          {failure ? <ErrorNote error={failure} /> : null}
          {notice ? (
            <p class="note" role="status">
              {notice}
            </p>
          ) : null}
          {canChange ? (
            <div class="toolbar" data-testid="campaign-actions">
              {c.status === 'draft' || c.status === 'scheduled' ? (
                <button type="button" class="primary" disabled={busy} onClick={() => act('start')}>
                  {t('campaigns.start')}
                </button>
              ) : null}
              {c.status === 'running' || c.status === 'scheduled' ? (
                <button type="button" disabled={busy} onClick={() => act('pause')}>
                  {t('campaigns.pause')}
                </button>
              ) : null}
              {c.status === 'paused' ? (
                <button type="button" class="primary" disabled={busy} onClick={() => act('resume')}>
                  {t('campaigns.resume')}
                </button>
              ) : null}
              {!isOver(c.status) ? (
                <button type="button" disabled={busy} onClick={() => act('cancel')}>
                  {t('campaigns.cancel')}
                </button>
              ) : null}
              {c.progress.counts.failed > 0 && c.status !== 'draft' && c.status !== 'cancelled' ? (
                <button type="button" disabled={busy} onClick={() => act('retry-failed')}>
                  {t('campaigns.retryFailed', { count: c.progress.counts.failed })}
                </button>
              ) : null}
            </div>
          ) : null}
          <dl class="facts" data-testid="campaign-facts">
            <dt>{t('campaigns.subject')}</dt>
            <dd>{c.subject}</dd>
            <dt>{t('campaigns.from')}</dt>
            <dd>{c.from ?? t('campaigns.defaultFrom')}</dd>
            <dt>{t('campaigns.created')}</dt>
            <dd>{formatTime(c.createdAt)}</dd>
            {c.startAt ? (
              <>
                <dt>{t('campaigns.startAt')}</dt>
                <dd>{formatTime(c.startAt)}</dd>
              </>
            ) : null}
            {c.startedAt ? (
              <>
                <dt>{t('campaigns.startedAt')}</dt>
                <dd>{formatTime(c.startedAt)}</dd>
              </>
            ) : null}
            {c.finishedAt ? (
              <>
                <dt>{t('campaigns.finishedAt')}</dt>
                <dd>{formatTime(c.finishedAt)}</dd>
              </>
            ) : null}
          </dl>
          {canChange && (c.status === 'draft' || c.status === 'scheduled') ? (
            <CampaignCheck campaign={c} withStart={false} />
          ) : null}
          <Recipients campaign={c} route={route} />
        </>
      )}
    </Screen>
  );
}

function ProgressPanel({ campaign: c, interrupted }: { campaign: Campaign; interrupted: boolean }) {
  const { t } = useI18n();
  const p = c.progress;
  const percent = p.total === 0 ? 0 : Math.floor((p.done / p.total) * 100);
  return (
    <section class="card campaigns-progress" aria-labelledby="campaign-progress-title">
      <h2 id="campaign-progress-title">{t('campaigns.progress')}</h2>
      <p data-testid="campaign-status" aria-live="polite">
        {t('campaigns.statusLabel')} <CampaignBadge status={c.status} />
      </p>
      <label for="campaign-progress-bar">
        {t('campaigns.doneOf', { done: p.done, total: p.total, percent })}
      </label>
      <progress id="campaign-progress-bar" max={Math.max(p.total, 1)} value={p.done}>
        {percent}%
      </progress>
      <dl class="figures campaigns-counts" data-testid="campaign-counts">
        {RECIPIENT_STATES.map((s) => (
          <div key={s}>
            <dt>{t(`campaigns.state.${s}` as MessageKey)}</dt>
            <dd data-state={s}>{p.counts[s]}</dd>
          </div>
        ))}
      </dl>
      <p>
        {t('campaigns.rate', { rate: p.ratePerSecond.toFixed(1) })}
        {c.status === 'running' && p.etaSeconds !== null
          ? ` · ${t('campaigns.eta', { time: duration(p.etaSeconds) })}`
          : ''}
      </p>
      {interrupted ? (
        <p class="muted" role="status">
          {t('campaigns.reconnecting')}
        </p>
      ) : null}
    </section>
  );
}

function Recipients({ campaign, route }: { campaign: Campaign; route: Route }) {
  const { t, formatTime } = useI18n();
  const state = route.query.get('state') ?? '';
  const after = route.query.get('after') ?? '';
  const base = `/api/campaigns/${encodeURIComponent(campaign.id)}`;
  // Read again as the campaign moves on (one page, at most once per progress event).
  const loaded = useLoad(
    () => get<RecipientPage>(`${base}/recipients`, { state, after, limit: 50 }),
    [campaign.id, state, after, campaign.progress.done, campaign.status],
  );
  const go = (query: Record<string, string | undefined>) => navigate(`/campaigns/${campaign.id}`, query);
  const csv = `${base}/recipients.csv${state ? `?state=${state}` : ''}`;
  return (
    <section aria-labelledby="campaign-recipients-title">
      <h2 id="campaign-recipients-title">{t('campaigns.recipients')}</h2>
      <div class="toolbar">
        <label for="campaign-recipient-state">{t('campaigns.filter')}</label>
        <select
          id="campaign-recipient-state"
          value={state}
          onChange={(e) => go({ state: e.currentTarget.value })}
        >
          <option value="">{t('campaigns.allStates')}</option>
          {RECIPIENT_STATES.map((s) => (
            <option key={s} value={s}>
              {t(`campaigns.state.${s}` as MessageKey)}
            </option>
          ))}
        </select>
        <button type="button" onClick={loaded.reload}>
          {t('app.refresh')}
        </button>
        <a href={csv} download>
          {t('campaigns.exportCsv')}
        </a>
      </div>
      {loaded.error ? <ErrorNote error={loaded.error} onRetry={loaded.reload} /> : null}
      {!loaded.data ? (
        loaded.error ? null : (
          <Loading />
        )
      ) : loaded.data.recipients.length === 0 ? (
        <p class="muted">{t('app.none')}</p>
      ) : (
        <div class="table-wrap">
          <table class="campaigns-recipients" data-testid="recipients">
            <thead>
              <tr>
                <th scope="col">{t('campaigns.address')}</th>
                <th scope="col">{t('campaigns.recipientState')}</th>
                <th scope="col">{t('campaigns.reply')}</th>
                <th scope="col">{t('campaigns.transport')}</th>
                <th scope="col">{t('campaigns.attempts')}</th>
                <th scope="col">{t('campaigns.time')}</th>
              </tr>
            </thead>
            <tbody>
              {loaded.data.recipients.map((r) => (
                <tr key={r.seq}>
                  <td>
                    {r.address}
                    {r.name ? <span class="muted"> ({r.name})</span> : null}
                  </td>
                  <td>
                    <StatusBadge status={r.state} label={t(`campaigns.state.${r.state}` as MessageKey)} />
                  </td>
                  <td>
                    {r.reason ? <code class="code">{r.reason}</code> : null}
                    {r.smtpCode && !r.detail?.startsWith(String(r.smtpCode)) ? (
                      <code class="code">{r.smtpCode}</code>
                    ) : null}
                    {r.detail ?? ''}
                  </td>
                  <td>{r.transport ?? ''}</td>
                  <td>{r.attempts}</td>
                  <td>{formatTime(r.settledAt ?? r.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {after || (loaded.data && loaded.data.nextAfter !== null) ? (
        <div class="toolbar">
          {after ? (
            <button type="button" onClick={() => go({ state })}>
              {t('campaigns.firstPage')}
            </button>
          ) : null}
          {loaded.data && loaded.data.nextAfter !== null ? (
            <button type="button" onClick={() => go({ state, after: String(loaded.data?.nextAfter) })}>
              {t('campaigns.nextPage')}
            </button>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
