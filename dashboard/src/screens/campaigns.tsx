import './campaigns.css';
import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import {
  DataTable,
  ErrorNote,
  Facts,
  FilterBar,
  LoadedView,
  Pager,
  Screen,
  StatusBadge,
  useLoad,
} from '../common.js';
import { type MessageKey, useI18n } from '../i18n/index.js';
import { href, navigate, type Route } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import {
  CAMPAIGN_STATUSES,
  type Campaign,
  type CampaignList,
  duration,
  isEditable,
  isOver,
  type Progress,
  RECIPIENT_STATES,
  type RecipientPage,
} from './campaigns-api.js';
import { CampaignCheck } from './campaigns-check.js';
import { EditCampaign } from './campaigns-edit.js';
import { NewCampaign } from './campaigns-new.js';

/**
 * `#/campaigns` (the list), `#/campaigns/new`, `#/campaigns/:id` (live progress, recipients) and
 * `#/campaigns/:id/edit` (a campaign not started yet).
 */
export function Campaigns({ route }: { route: Route }) {
  const [, first, second] = route.parts;
  if (first === 'new') return <NewCampaign />;
  if (first && second === 'edit') return <EditCampaign key={first} id={first} />;
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
  const status = route.query.get('status') ?? '';
  const loaded = useLoad(
    () => get<CampaignList>('/api/campaigns', { before, status, limit: 20 }),
    [before, status],
  );
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
      <FilterBar
        id="campaigns-status"
        label={t('campaigns.status')}
        value={status}
        allLabel={t('campaigns.allStatuses')}
        options={CAMPAIGN_STATUSES.map((s) => ({
          value: s,
          label: t(`campaigns.status.${s}` as MessageKey),
        }))}
        onChange={(value) => navigate('/campaigns', { status: value || undefined })}
        onRefresh={loaded.reload}
      />
      <LoadedView
        loaded={loaded}
        isEmpty={(data) => data.campaigns.length === 0}
        empty={t('campaigns.empty')}
      >
        {(data) => (
          <DataTable
            testid="campaigns"
            columns={[
              t('campaigns.name'),
              t('campaigns.status'),
              t('campaigns.counts'),
              t('campaigns.created'),
            ]}
            rows={data.campaigns}
            row={(c) => (
              <tr key={c.id}>
                <td>
                  <a href={href(`/campaigns/${c.id}`)}>{c.name}</a>
                </td>
                <td>
                  <CampaignBadge status={c.status} />
                  {c.status === 'scheduled' && c.startAt ? (
                    <span class="muted campaigns-starts">
                      {' '}
                      {t('campaigns.startsOn', { time: formatTime(c.startAt) })}
                    </span>
                  ) : null}
                </td>
                <td>
                  <CountsText progress={c.progress} />
                </td>
                <td>{formatTime(c.createdAt)}</td>
              </tr>
            )}
          />
        )}
      </LoadedView>
      <Pager
        current={before}
        next={loaded.data?.nextBefore}
        go={(cursor) => navigate('/campaigns', { before: cursor, status: status || undefined })}
      />
    </Screen>
  );
}

/** A campaign's state, in words. */
export function CampaignBadge({ status }: { status: Campaign['status'] }) {
  const { t } = useI18n();
  return <StatusBadge status={`campaign-${status}`} label={t(`campaigns.status.${status}` as MessageKey)} />;
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
      <LoadedView loaded={{ data: c, error: live.error, reload: live.reload }}>
        {(c) => (
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
                {isEditable(c.status) ? (
                  <button type="button" class="primary" disabled={busy} onClick={() => act('start')}>
                    {t('campaigns.start')}
                  </button>
                ) : null}
                {isEditable(c.status) ? (
                  <a class="campaigns-edit" href={href(`/campaigns/${c.id}/edit`)}>
                    {t('campaigns.edit')}
                  </a>
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
            <Facts
              testid="campaign-facts"
              facts={[
                [t('campaigns.subject'), c.subject],
                [t('campaigns.from'), c.from ?? t('campaigns.defaultFrom')],
                [t('campaigns.created'), formatTime(c.createdAt)],
                c.startAt ? [t('campaigns.startAt'), formatTime(c.startAt)] : null,
                c.startedAt ? [t('campaigns.startedAt'), formatTime(c.startedAt)] : null,
                c.finishedAt ? [t('campaigns.finishedAt'), formatTime(c.finishedAt)] : null,
              ]}
            />
            {canChange && isEditable(c.status) ? <CampaignCheck campaign={c} withStart={false} /> : null}
            <Recipients campaign={c} route={route} />
          </>
        )}
      </LoadedView>
    </Screen>
  );
}

function ProgressPanel({ campaign: c, interrupted }: { campaign: Campaign; interrupted: boolean }) {
  const { t, formatTime } = useI18n();
  const p = c.progress;
  const percent = p.total === 0 ? 0 : Math.floor((p.done / p.total) * 100);
  return (
    <section class="card campaigns-progress" aria-labelledby="campaign-progress-title">
      <h2 id="campaign-progress-title">{t('campaigns.progress')}</h2>
      <p data-testid="campaign-status" aria-live="polite">
        {t('campaigns.statusLabel')} <CampaignBadge status={c.status} />
      </p>
      {c.status === 'scheduled' && c.startAt ? (
        <p data-testid="campaign-starts">{t('campaigns.willStart', { time: formatTime(c.startAt) })}</p>
      ) : null}
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
      <FilterBar
        id="campaign-recipient-state"
        label={t('campaigns.filter')}
        value={state}
        allLabel={t('campaigns.allStates')}
        options={RECIPIENT_STATES.map((s) => ({ value: s, label: t(`campaigns.state.${s}` as MessageKey) }))}
        onChange={(value) => go({ state: value })}
        onRefresh={loaded.reload}
      >
        <a href={csv} download>
          {t('campaigns.exportCsv')}
        </a>
      </FilterBar>
      <LoadedView loaded={loaded} isEmpty={(data) => data.recipients.length === 0}>
        {(data) => (
          <DataTable
            class="campaigns-recipients"
            testid="recipients"
            columns={[
              t('campaigns.address'),
              t('campaigns.recipientState'),
              t('campaigns.reply'),
              t('campaigns.transport'),
              t('campaigns.attempts'),
              t('campaigns.time'),
            ]}
            rows={data.recipients}
            row={(r) => (
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
            )}
          />
        )}
      </LoadedView>
      <Pager
        current={after}
        next={loaded.data && loaded.data.nextAfter !== null ? String(loaded.data.nextAfter) : null}
        go={(cursor) => go({ state, after: cursor })}
        firstLabel={t('campaigns.firstPage')}
        nextLabel={t('campaigns.nextPage')}
      />
    </section>
  );
}
