import { useState } from 'preact/hooks';
import { call } from '../api.js';
import { ErrorNote, Facts } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { navigate } from '../router.js';
import type { Campaign, Preview } from './campaigns-api.js';

/** Preview for a recipient, a test to one address, and start: for a draft or scheduled campaign. */
export function CampaignCheck({ campaign, withStart }: { campaign: Campaign; withStart: boolean }) {
  const { t } = useI18n();
  const base = `/api/campaigns/${encodeURIComponent(campaign.id)}`;
  const [previewFor, setPreviewFor] = useState('');
  const [preview, setPreview] = useState<Preview | undefined>();
  // Each preview reloads the rendered frame (the campaign may have been edited meanwhile).
  const [round, setRound] = useState(0);
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
      setRound((r) => r + 1);
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
      {/* Below the controls: the frame is tall, and nothing to press is under it. */}
      {preview ? <PreviewView campaign={campaign} preview={preview} round={round} /> : null}
    </section>
  );
}

/**
 * A preview: who it is for, the text part, and the HTML part rendered in a sandboxed frame (no
 * scripts, no requests; the page's own CSP) with a toggle to its source.
 */
function PreviewView({ campaign, preview, round }: { campaign: Campaign; preview: Preview; round: number }) {
  const { t } = useI18n();
  const [source, setSource] = useState(false);
  const page = `/api/campaigns/${encodeURIComponent(campaign.id)}/preview.html?address=${encodeURIComponent(preview.to)}`;
  return (
    <div data-testid="campaign-preview" class="card campaigns-preview">
      <Facts
        facts={[
          [t('campaigns.preview.to'), preview.to],
          [t('campaigns.from'), preview.from],
          [t('campaigns.subject'), <span data-testid="campaign-preview-subject">{preview.subject}</span>],
        ]}
      />
      {preview.text !== undefined ? (
        <>
          <h4>{t('campaigns.text')}</h4>
          <pre class="raw">{preview.text}</pre>
        </>
      ) : null}
      {preview.html !== undefined ? (
        <>
          <div class="campaigns-preview-head">
            <h4>{source ? t('campaigns.preview.htmlSource') : t('campaigns.preview.rendered')}</h4>
            <button type="button" aria-pressed={source} onClick={() => setSource(!source)}>
              {source ? t('campaigns.preview.showRendered') : t('campaigns.preview.showSource')}
            </button>
          </div>
          {source ? (
            <pre class="raw">{preview.html}</pre>
          ) : (
            <iframe
              key={round}
              class="rendered"
              title={t('campaigns.preview.rendered')}
              sandbox=""
              referrerpolicy="no-referrer"
              src={page}
            />
          )}
        </>
      ) : null}
    </div>
  );
}
