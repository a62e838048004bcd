import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Facts, Field, fieldsOf, LoadedView, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { useRoleAtLeast } from '../session.js';

/** `GET /api/rules/settings`: what applies to every inbound message, whatever rule matched. */
export interface RuleSettings {
  defaultActions: unknown[];
  defaultWhen: 'unmatched' | 'not_stopped';
  skipRepliesAndForwards: boolean;
  dedupeSubjectGroupPerMonth: boolean;
  senderAllowlist: string[];
  timeZone: string;
}

/**
 * `#/settings/rules`: the instance's rule settings (the one settings document the API lets
 * people change), read by everyone who sees the tab and replaced whole by an operator.
 */
export function RuleSettingsTab() {
  const { t } = useI18n();
  const operator = useRoleAtLeast('operator');
  const loaded = useLoad(() => get<RuleSettings>('/api/rules/settings'), []);
  return (
    <>
      <h2>{t('settings.rules.title')}</h2>
      <p class="muted help">{t('settings.rules.intro')}</p>
      <LoadedView loaded={loaded}>
        {(settings) =>
          operator ? (
            <RuleSettingsForm settings={settings} onSaved={loaded.reload} />
          ) : (
            <Shown settings={settings} />
          )
        }
      </LoadedView>
    </>
  );
}

function Shown({ settings }: { settings: RuleSettings }) {
  const { t } = useI18n();
  return (
    <Facts
      testid="rule-settings"
      facts={[
        [t('settings.rules.defaultWhen'), t(`settings.rules.when.${settings.defaultWhen}`)],
        [
          t('settings.rules.skipReplies'),
          settings.skipRepliesAndForwards ? t('settings.yes') : t('settings.no'),
        ],
        [
          t('settings.rules.dedupe'),
          settings.dedupeSubjectGroupPerMonth ? t('settings.yes') : t('settings.no'),
        ],
        [
          t('settings.rules.allowlist'),
          settings.senderAllowlist.length
            ? settings.senderAllowlist.join(', ')
            : t('settings.rules.everyone'),
        ],
        [t('settings.rules.timeZone'), settings.timeZone],
        [
          t('settings.rules.defaultActions'),
          <pre class="raw">{JSON.stringify(settings.defaultActions, null, 2)}</pre>,
        ],
      ]}
    />
  );
}

function RuleSettingsForm({ settings, onSaved }: { settings: RuleSettings; onSaved: () => void }) {
  const { t } = useI18n();
  const [when, setWhen] = useState(settings.defaultWhen);
  const [skip, setSkip] = useState(settings.skipRepliesAndForwards);
  const [dedupe, setDedupe] = useState(settings.dedupeSubjectGroupPerMonth);
  const [allowlist, setAllowlist] = useState(settings.senderAllowlist.join('\n'));
  const [zone, setZone] = useState(settings.timeZone);
  const [actions, setActions] = useState(JSON.stringify(settings.defaultActions, null, 2));
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  useEffect(() => setSaved(false), [when, skip, dedupe, allowlist, zone, actions]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setFailure(undefined);
    let defaultActions: unknown;
    try {
      defaultActions = JSON.parse(actions || '[]');
    } catch {
      setFailure(new Error(t('settings.rules.actionsInvalid')));
      return;
    }
    setBusy(true);
    try {
      await call('PUT', '/api/rules/settings', {
        body: {
          defaultActions,
          defaultWhen: when,
          skipRepliesAndForwards: skip,
          dedupeSubjectGroupPerMonth: dedupe,
          senderAllowlist: allowlist
            .split(/[\n,]/)
            .map((a) => a.trim())
            .filter(Boolean),
          timeZone: zone.trim(),
        },
      });
      setSaved(true);
      onSaved();
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  const described = fieldsOf(failure);
  const allow = described('rules-allowlist', 'senderAllowlist');
  const tz = described('rules-timezone', 'timeZone');
  const acts = described('rules-actions', 'defaultActions');

  return (
    <form class="card report-form" onSubmit={submit} aria-label={t('settings.rules.title')} noValidate>
      <Field label={t('settings.rules.defaultWhen')} id="rules-when">
        <select
          id="rules-when"
          value={when}
          onChange={(e) => setWhen(e.currentTarget.value as RuleSettings['defaultWhen'])}
        >
          <option value="unmatched">{t('settings.rules.when.unmatched')}</option>
          <option value="not_stopped">{t('settings.rules.when.not_stopped')}</option>
        </select>
      </Field>
      <label class="check">
        <input type="checkbox" checked={skip} onChange={(e) => setSkip(e.currentTarget.checked)} />{' '}
        {t('settings.rules.skipReplies')}
      </label>
      <label class="check">
        <input type="checkbox" checked={dedupe} onChange={(e) => setDedupe(e.currentTarget.checked)} />{' '}
        {t('settings.rules.dedupe')}
      </label>
      <Field label={t('settings.rules.allowlistField')} field={allow}>
        <textarea
          {...allow.attrs}
          class="data-field short"
          value={allowlist}
          onInput={(e) => setAllowlist(e.currentTarget.value)}
        />
      </Field>
      <Field label={t('settings.rules.timeZone')} field={tz}>
        <input
          {...tz.attrs}
          spellcheck={false}
          value={zone}
          onInput={(e) => setZone(e.currentTarget.value)}
        />
      </Field>
      <Field label={t('settings.rules.defaultActionsField')} field={acts}>
        <textarea
          {...acts.attrs}
          class="data-field"
          spellcheck={false}
          value={actions}
          onInput={(e) => setActions(e.currentTarget.value)}
        />
      </Field>
      {failure ? <ErrorNote error={failure} /> : null}
      {saved ? (
        <p class="note" role="status">
          {t('settings.rules.saved')}
        </p>
      ) : null}
      <div class="row-actions">
        <button type="submit" class="primary" disabled={busy}>
          {t('settings.rules.save')}
        </button>
      </div>
    </form>
  );
}
