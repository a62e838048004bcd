import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, LoadedView, Screen, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate } from '../router.js';
import { useRoleAtLeast } from '../session.js';
import type { Campaign, CampaignContent } from './campaigns-api.js';
import { NameField } from './campaigns-new.js';
import {
  startChoiceOf,
  startOf,
  WhenStep,
  type Writing,
  WritingStep,
  writingBody,
  writingOf,
} from './campaigns-writing.js';

/**
 * `#/campaigns/:id/edit`: a draft or scheduled campaign's name and writing step (the new-campaign
 * form's), saved with `PATCH /api/campaigns/:id`. Its recipients are not editable.
 */
export function EditCampaign({ id }: { id: string }) {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const loaded = useLoad(
    () => get<CampaignContent>(`/api/campaigns/${encodeURIComponent(id)}/content`),
    [id],
  );
  return (
    <Screen
      title={loaded.data ? t('campaigns.edit.title', { name: loaded.data.name }) : t('campaigns.edit')}
      actions={<a href={href(`/campaigns/${id}`)}>{t('campaigns.edit.back')}</a>}
    >
      {!canChange ? (
        <p class="note" role="status">
          {t('campaigns.new.viewer')}
        </p>
      ) : (
        <LoadedView loaded={loaded}>{(content) => <EditForm id={id} content={content} />}</LoadedView>
      )}
    </Screen>
  );
}

function EditForm({ id, content }: { id: string; content: CampaignContent }) {
  const { t } = useI18n();
  const [name, setName] = useState(content.name);
  const [writing, setWriting] = useState<Writing>(() => writingOf(content));
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const save = async (event: Event) => {
    event.preventDefault();
    const choice = startChoiceOf(event);
    setBusy(true);
    setFailure(undefined);
    try {
      const start = startOf(choice, writing, t);
      // "Save as draft" takes a scheduled campaign back to a draft.
      const body = { name, ...writingBody(writing, true), start: start ?? null };
      await call<Campaign>('PATCH', `/api/campaigns/${encodeURIComponent(id)}`, { body });
      navigate(`/campaigns/${id}`);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="campaigns-form" onSubmit={save}>
      <p class="muted">{t('campaigns.edit.recipients')}</p>
      <NameField value={name} onChange={setName} />
      <WritingStep value={writing} onChange={setWriting} />
      {failure ? <ErrorNote error={failure} /> : null}
      <WhenStep value={writing} onChange={setWriting} busy={busy} />
    </form>
  );
}
