import { useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Loading, Screen, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { href, navigate } from '../router.js';
import { useRoleAtLeast, useSession } from '../session.js';
import {
  type Campaign,
  type ContactList,
  type ImportReport,
  importCsv,
  type Preview,
} from './campaigns-api.js';

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
  const [from, setFrom] = useState('');
  const [replyTo, setReplyTo] = useState('');
  const [subject, setSubject] = useState('');
  const [text, setText] = useState('');
  const [html, setHtml] = useState('');
  const [ownerEmail, setOwnerEmail] = useState('');
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const save = async (event: Event) => {
    event.preventDefault();
    const startNow = (event as SubmitEvent).submitter?.getAttribute('data-start') === 'now';
    setBusy(true);
    setFailure(undefined);
    try {
      const body: Record<string, unknown> = { name, subject };
      if (audience === 'paste') body.recipients = pastedRecipients(pasted);
      else if (listId) body.listId = listId;
      if (from.trim()) body.from = from.trim();
      if (replyTo.trim()) body.replyTo = replyTo.trim();
      if (ownerEmail.trim()) body.ownerEmail = ownerEmail.trim();
      if (text) body.text = text;
      if (html) body.html = html;
      if (startNow) body.start = 'now';
      const campaign = await call<Campaign>('POST', '/api/campaigns', { body });
      if (startNow) navigate(`/campaigns/${campaign.id}`);
      else onSaved(campaign);
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="campaigns-form" onSubmit={save}>
      <div class="campaigns-field">
        <label for="campaign-name">{t('campaigns.name')}</label>
        <input
          id="campaign-name"
          required
          maxLength={200}
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>

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
          <>
            {lists.error ? <ErrorNote error={lists.error} onRetry={lists.reload} /> : null}
            {!lists.data ? (
              lists.error ? null : (
                <Loading />
              )
            ) : (
              <div class="campaigns-field">
                <label for="campaign-list">{t('campaigns.list')}</label>
                <select id="campaign-list" value={listId} onChange={(e) => setListId(e.currentTarget.value)}>
                  <option value="">{t('campaigns.list.choose')}</option>
                  {lists.data.lists.map((l) => (
                    <option key={l.id} value={l.id}>
                      {t('campaigns.list.option', { name: l.name, count: l.contactCount })}
                    </option>
                  ))}
                </select>
              </div>
            )}
          </>
        ) : audience === 'csv' ? (
          <CsvImport
            onImported={(list) => {
              setListId(list.id);
              lists.reload();
            }}
            importedListId={listId}
          />
        ) : (
          <div class="campaigns-field">
            <label for="campaign-pasted">{t('campaigns.pasted')}</label>
            <textarea
              id="campaign-pasted"
              rows={6}
              value={pasted}
              placeholder="helene@example.fr"
              onInput={(e) => setPasted(e.currentTarget.value)}
            />
            <p class="muted">{t('campaigns.pasted.count', { count: pastedRecipients(pasted).length })}</p>
          </div>
        )}
      </fieldset>

      <fieldset class="card">
        <legend>{t('campaigns.message')}</legend>
        <div class="campaigns-field">
          <label for="campaign-from">{t('campaigns.from')}</label>
          <input
            id="campaign-from"
            value={from}
            placeholder="Le club <club@example.org>"
            aria-describedby="campaign-from-hint"
            onInput={(e) => setFrom(e.currentTarget.value)}
          />
          <p id="campaign-from-hint" class="muted">
            {t('campaigns.from.hint')}
          </p>
        </div>
        <div class="campaigns-field">
          <label for="campaign-reply-to">{t('campaigns.replyTo')}</label>
          <input id="campaign-reply-to" value={replyTo} onInput={(e) => setReplyTo(e.currentTarget.value)} />
        </div>
        <div class="campaigns-field">
          <label for="campaign-subject">{t('campaigns.subject')}</label>
          <input
            id="campaign-subject"
            required
            maxLength={998}
            value={subject}
            onInput={(e) => setSubject(e.currentTarget.value)}
          />
        </div>
        <TemplateHint />
        <div class="campaigns-field">
          <label for="campaign-text">{t('campaigns.text')}</label>
          <textarea
            id="campaign-text"
            rows={8}
            value={text}
            aria-describedby="campaign-template-hint"
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </div>
        <div class="campaigns-field">
          <label for="campaign-html">{t('campaigns.html')}</label>
          <textarea
            id="campaign-html"
            rows={8}
            value={html}
            aria-describedby="campaign-template-hint"
            onInput={(e) => setHtml(e.currentTarget.value)}
          />
        </div>
        <div class="campaigns-field">
          <label for="campaign-owner">{t('campaigns.ownerEmail')}</label>
          <input
            id="campaign-owner"
            type="email"
            value={ownerEmail}
            aria-describedby="campaign-owner-hint"
            onInput={(e) => setOwnerEmail(e.currentTarget.value)}
          />
          <p id="campaign-owner-hint" class="muted">
            {t('campaigns.ownerEmail.hint')}
          </p>
        </div>
      </fieldset>

      {failure ? <ErrorNote error={failure} /> : null}
      <div class="toolbar">
        <button type="submit" class="primary" disabled={busy}>
          {t('campaigns.saveDraft')}
        </button>
        <button type="submit" data-start="now" disabled={busy}>
          {t('campaigns.saveStart')}
        </button>
      </div>
      <p class="muted">{t('campaigns.saveDraft.hint')}</p>
    </form>
  );
}

/** What the templates can use. */
function TemplateHint() {
  const { t } = useI18n();
  const variables = ['name', 'email', 'unsubscribe_url', 'campaign.name', 'campaign.id'];
  return (
    <div id="campaign-template-hint" class="note">
      <p>{t('campaigns.hint.intro')}</p>
      <p>
        {variables.map((v) => (
          <code key={v} class="code">
            {`{{ ${v} }}`}
          </code>
        ))}
      </p>
      <p class="muted">{t('campaigns.hint.fields')}</p>
    </div>
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
      <div class="campaigns-field">
        <label for="campaign-csv-list">{t('campaigns.csv.listName')}</label>
        <input id="campaign-csv-list" value={listName} onInput={(e) => setListName(e.currentTarget.value)} />
      </div>
      <div class="campaigns-field">
        <label for="campaign-csv-file">{t('campaigns.csv.file')}</label>
        <input
          id="campaign-csv-file"
          type="file"
          accept=".csv,text/csv,text/plain"
          onChange={(e) => setFile(e.currentTarget.files?.[0])}
        />
      </div>
      <div class="campaigns-field">
        <label for="campaign-csv-text">{t('campaigns.csv.paste')}</label>
        <textarea
          id="campaign-csv-text"
          rows={5}
          value={pasted}
          placeholder={'Nom;Prénom;E-mail\nDupont;Hélène;helene.dupont@example.fr'}
          onInput={(e) => setPasted(e.currentTarget.value)}
        />
        <p class="muted">{t('campaigns.csv.hint')}</p>
      </div>
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
            <div class="table-wrap">
              <table data-testid="import-errors">
                <caption>{t('campaigns.csv.errors')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('campaigns.csv.line')}</th>
                    <th scope="col">{t('campaigns.csv.field')}</th>
                    <th scope="col">{t('campaigns.csv.problem')}</th>
                  </tr>
                </thead>
                <tbody>
                  {report.report.errors.map((e) => (
                    <tr key={`${e.line ?? e.index}-${e.field}`}>
                      <td>{e.line ?? e.index}</td>
                      <td>{e.field}</td>
                      <td>{e.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {report.report.errorsTruncated ? <p class="muted">{t('campaigns.csv.truncated')}</p> : null}
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** Preview for a recipient, a test to one address, and start: for a draft or scheduled campaign. */
export function CampaignCheck({ campaign, withStart }: { campaign: Campaign; withStart: boolean }) {
  const { t } = useI18n();
  const base = `/api/campaigns/${encodeURIComponent(campaign.id)}`;
  const [previewFor, setPreviewFor] = useState('');
  const [preview, setPreview] = useState<Preview | undefined>();
  const [previewFailure, setPreviewFailure] = useState<unknown>();
  const [testTo, setTestTo] = useState('');
  const [tested, setTested] = useState<string | undefined>();
  const [testFailure, setTestFailure] = useState<unknown>();
  const [startFailure, setStartFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const showPreview = async (event: Event) => {
    event.preventDefault();
    setPreviewFailure(undefined);
    try {
      setPreview(
        await call<Preview>('POST', `${base}/preview`, {
          body: previewFor.trim() ? { address: previewFor.trim() } : {},
        }),
      );
    } catch (error) {
      setPreview(undefined);
      setPreviewFailure(error);
    }
  };
  const sendTest = async (event: Event) => {
    event.preventDefault();
    setTestFailure(undefined);
    setTested(undefined);
    try {
      const body: Record<string, string> = { to: testTo.trim() };
      if (previewFor.trim()) body.as = previewFor.trim();
      await call<{ messageId: string }>('POST', `${base}/test`, { body });
      setTested(testTo.trim());
    } catch (error) {
      setTestFailure(error);
    }
  };
  const start = async () => {
    setBusy(true);
    setStartFailure(undefined);
    try {
      await call<Campaign>('POST', `${base}/start`);
      navigate(`/campaigns/${campaign.id}`);
    } catch (error) {
      setStartFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="campaigns-check" aria-labelledby="campaign-check-title">
      <h2 id="campaign-check-title">{t('campaigns.check')}</h2>
      <form class="card" onSubmit={showPreview} aria-labelledby="campaign-preview-title">
        <h3 id="campaign-preview-title">{t('campaigns.preview')}</h3>
        <label for="campaign-preview-for">{t('campaigns.preview.for')}</label>
        <input
          id="campaign-preview-for"
          type="email"
          value={previewFor}
          aria-describedby="campaign-preview-hint"
          onInput={(e) => setPreviewFor(e.currentTarget.value)}
        />
        <p id="campaign-preview-hint" class="muted">
          {t('campaigns.preview.hint')}
        </p>
        <button type="submit">{t('campaigns.preview.show')}</button>
        {previewFailure ? <ErrorNote error={previewFailure} /> : null}
        {preview ? (
          <div data-testid="campaign-preview" class="campaigns-preview">
            <dl class="facts">
              <dt>{t('campaigns.preview.to')}</dt>
              <dd>{preview.to}</dd>
              <dt>{t('campaigns.from')}</dt>
              <dd>{preview.from}</dd>
              <dt>{t('campaigns.subject')}</dt>
              <dd data-testid="campaign-preview-subject">{preview.subject}</dd>
            </dl>
            {preview.text !== undefined ? (
              <>
                <h4>{t('campaigns.text')}</h4>
                <pre class="raw">{preview.text}</pre>
              </>
            ) : null}
            {preview.html !== undefined ? (
              <>
                <h4>{t('campaigns.preview.htmlSource')}</h4>
                <pre class="raw">{preview.html}</pre>
              </>
            ) : null}
          </div>
        ) : null}
      </form>
      <form class="card" onSubmit={sendTest} aria-labelledby="campaign-test-title">
        <h3 id="campaign-test-title">{t('campaigns.test')}</h3>
        <label for="campaign-test-to">{t('campaigns.test.to')}</label>
        <input
          id="campaign-test-to"
          type="email"
          required
          value={testTo}
          onInput={(e) => setTestTo(e.currentTarget.value)}
        />
        <button type="submit">{t('campaigns.test.send')}</button>
        {testFailure ? <ErrorNote error={testFailure} /> : null}
        {tested ? (
          <p class="note" role="status">
            {t('campaigns.test.sent', { to: tested })}
          </p>
        ) : null}
      </form>
      {withStart && (campaign.status === 'draft' || campaign.status === 'scheduled') ? (
        <div class="toolbar">
          <button type="button" class="primary" disabled={busy} onClick={start}>
            {t('campaigns.startNow', { total: campaign.progress.total })}
          </button>
        </div>
      ) : null}
      {startFailure ? <ErrorNote error={startFailure} /> : null}
    </section>
  );
}
