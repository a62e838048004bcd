import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { DataTable, ErrorNote, Field, LoadedView, Screen, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate } from '../router.js';
import { useRoleAtLeast, useSession } from '../session.js';
import { type Campaign, type ContactList, type ImportReport, importCsv } from './campaigns-api.js';
import { CampaignCheck } from './campaigns-check.js';
import {
  EMPTY_WRITING,
  startChoiceOf,
  startOf,
  WhenStep,
  type Writing,
  WritingStep,
  writingBody,
} from './campaigns-writing.js';

type Audience = 'list' | 'csv' | 'paste';

/** The addresses pasted one a line (blank lines left out). */
function pastedRecipients(text: string): Array<{ address: string }> {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((address) => ({ address }));
}

/** `#/campaigns/new`: the audience, the message, then preview, test and start. */
export function NewCampaign() {
  const { t } = useI18n();
  const canChange = useRoleAtLeast('operator');
  const [saved, setSaved] = useState<Campaign | undefined>();
  return (
    <Screen title={t('campaigns.new.title')} actions={<a href={href('/campaigns')}>{t('campaigns.back')}</a>}>
      {!canChange ? (
        <p class="note" role="status">
          {t('campaigns.new.viewer')}
        </p>
      ) : saved ? (
        <>
          <p class="note" role="status">
            {t('campaigns.new.saved', { name: saved.name, total: saved.progress.total })}
          </p>
          <CampaignCheck campaign={saved} withStart />
          <p>
            <a href={href(`/campaigns/${saved.id}`)}>{t('campaigns.new.openDetail')}</a>
          </p>
        </>
      ) : (
        <CampaignForm onSaved={setSaved} />
      )}
    </Screen>
  );
}

function CampaignForm({ onSaved }: { onSaved: (campaign: Campaign) => void }) {
  const { t } = useI18n();
  const lists = useLoad(() => get<{ lists: ContactList[] }>('/api/lists'), []);
  const [audience, setAudience] = useState<Audience>('list');
  const [listId, setListId] = useState('');
  const [pasted, setPasted] = useState('');
  const [name, setName] = useState('');
  const [writing, setWriting] = useState<Writing>(EMPTY_WRITING);
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const save = async (event: Event) => {
    event.preventDefault();
    const choice = startChoiceOf(event);
    setBusy(true);
    setFailure(undefined);
    try {
      const start = startOf(choice, writing, t);
      const body: Record<string, unknown> = { name, ...writingBody(writing, false) };
      if (audience === 'paste') body.recipients = pastedRecipients(pasted);
      else if (listId) body.listId = listId;
      if (start) body.start = start;
      const campaign = await call<Campaign>('POST', '/api/campaigns', { body });
      if (choice === 'draft') onSaved(campaign);
      else navigate(`/campaigns/${campaign.id}`);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="campaigns-form" onSubmit={save}>
      <NameField value={name} onChange={setName} />

      <fieldset class="card">
        <legend>{t('campaigns.audience')}</legend>
        <div class="campaigns-choices">
          {(['list', 'csv', 'paste'] as const).map((choice) => (
            <label key={choice}>
              <input
                type="radio"
                name="campaign-audience"
                value={choice}
                checked={audience === choice}
                onChange={() => setAudience(choice)}
              />{' '}
              {t(`campaigns.audience.${choice}`)}
            </label>
          ))}
        </div>
        {audience === 'list' ? (
          <LoadedView loaded={lists}>
            {(data) => (
              <Field class="campaigns-field" id="campaign-list" label={t('campaigns.list')}>
                <select id="campaign-list" value={listId} onChange={(e) => setListId(e.currentTarget.value)}>
                  <option value="">{t('campaigns.list.choose')}</option>
                  {data.lists.map((l) => (
                    <option key={l.id} value={l.id}>
                      {t('campaigns.list.option', { name: l.name, count: l.contactCount })}
                    </option>
                  ))}
                </select>
              </Field>
            )}
          </LoadedView>
        ) : audience === 'csv' ? (
          <CsvImport
            onImported={(list) => {
              setListId(list.id);
              lists.reload();
            }}
            importedListId={listId}
          />
        ) : (
          <Field class="campaigns-field" id="campaign-pasted" label={t('campaigns.pasted')}>
            <textarea
              id="campaign-pasted"
              rows={6}
              value={pasted}
              placeholder="helene@example.fr"
              onInput={(e) => setPasted(e.currentTarget.value)}
            />
            <p class="muted">{t('campaigns.pasted.count', { count: pastedRecipients(pasted).length })}</p>
          </Field>
        )}
      </fieldset>

      <WritingStep value={writing} onChange={setWriting} />
      {failure ? <ErrorNote error={failure} /> : null}
      <WhenStep value={writing} onChange={setWriting} busy={busy} />
    </form>
  );
}

/** The campaign's name (the form's first field). */
export function NameField({ value, onChange }: { value: string; onChange: (next: string) => void }) {
  const { t } = useI18n();
  return (
    <Field class="campaigns-field" id="campaign-name" label={t('campaigns.name')}>
      <input
        id="campaign-name"
        required
        maxLength={200}
        value={value}
        onInput={(e) => onChange(e.currentTarget.value)}
      />
    </Field>
  );
}

/** Imports a CSV file (chosen or pasted) into a new list, and shows the report. */
function CsvImport({
  onImported,
  importedListId,
}: {
  onImported: (list: ContactList) => void;
  importedListId: string;
}) {
  const { t } = useI18n();
  const session = useSession();
  const [listName, setListName] = useState('');
  const [file, setFile] = useState<File | undefined>();
  const [pasted, setPasted] = useState('');
  const [report, setReport] = useState<{ list: ContactList; report: ImportReport } | undefined>();
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const run = async () => {
    setBusy(true);
    setFailure(undefined);
    try {
      const body = file ?? pasted;
      if (!listName.trim()) throw new Error(t('campaigns.csv.needName'));
      if (!file && !pasted.trim()) throw new Error(t('campaigns.csv.needFile'));
      const list = await call<ContactList>('POST', '/api/lists', { body: { name: listName.trim() } });
      const answer = await importCsv(list.id, body, session.csrfToken);
      setReport({ list, report: answer });
      onImported(list);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="campaigns-csv">
      <Field class="campaigns-field" id="campaign-csv-list" label={t('campaigns.csv.listName')}>
        <input id="campaign-csv-list" value={listName} onInput={(e) => setListName(e.currentTarget.value)} />
      </Field>
      <Field class="campaigns-field" id="campaign-csv-file" label={t('campaigns.csv.file')}>
        <input
          id="campaign-csv-file"
          type="file"
          accept=".csv,text/csv,text/plain"
          onChange={(e) => setFile(e.currentTarget.files?.[0])}
        />
      </Field>
      <Field class="campaigns-field" id="campaign-csv-text" label={t('campaigns.csv.paste')}>
        <textarea
          id="campaign-csv-text"
          rows={5}
          value={pasted}
          placeholder={'Nom;Prénom;E-mail\nDupont;Hélène;helene.dupont@example.fr'}
          onInput={(e) => setPasted(e.currentTarget.value)}
        />
        <p class="muted">{t('campaigns.csv.hint')}</p>
      </Field>
      <button type="button" disabled={busy} onClick={run}>
        {t('campaigns.csv.import')}
      </button>
      {failure ? <ErrorNote error={failure} /> : null}
      {report ? (
        <div data-testid="import-report" role="status">
          <p>
            {t('campaigns.csv.report', {
              rows: report.report.rows,
              imported: report.report.imported,
              updated: report.report.updated,
              unchanged: report.report.unchanged,
              duplicates: report.report.duplicatesInFile,
              invalid: report.report.invalid,
            })}
          </p>
          {report.list.id === importedListId ? (
            <p>{t('campaigns.csv.chosen', { name: report.list.name })}</p>
          ) : null}
          {report.report.errors.length > 0 ? (
            <DataTable
              testid="import-errors"
              caption={t('campaigns.csv.errors')}
              columns={[t('campaigns.csv.line'), t('campaigns.csv.field'), t('campaigns.csv.problem')]}
              rows={report.report.errors}
              row={(e) => (
                <tr key={`${e.line ?? e.index}-${e.field}`}>
                  <td>{e.line ?? e.index}</td>
                  <td>{e.field}</td>
                  <td>{e.message}</td>
                </tr>
              )}
            >
              {report.report.errorsTruncated ? <p class="muted">{t('campaigns.csv.truncated')}</p> : null}
            </DataTable>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
