import { useEffect, useState } from 'preact/hooks';
import { call, get } from '../api.js';
import { ErrorNote, Facts, LoadedView, useLoad } from '../common.js';
import { useI18n } from '../i18n/index.js';
import { useRoleAtLeast } from '../session.js';
import { FieldError, fieldProblems, problemsOf } from './ops-parts.js';

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

  const problems = fieldProblems(failure);
  const described = (id: string, field: string) => {
    const messages = problemsOf(problems, field);
    return {
      messages,
      attrs: {
        id,
        'aria-invalid': messages.length ? ('true' as const) : undefined,
        'aria-describedby': messages.length ? `${id}-error` : undefined,
      },
    };
  };
  const allow = described('rules-allowlist', 'senderAllowlist');
  const tz = described('rules-timezone', 'timeZone');
  const acts = described('rules-actions', 'defaultActions');

  return (
    <form class="card report-form" onSubmit={submit} aria-label={t('settings.rules.title')} noValidate>
      <label for="rules-when">{t('settings.rules.defaultWhen')}</label>
      <select
        id="rules-when"
        value={when}
        onChange={(e) => setWhen(e.currentTarget.value as RuleSettings['defaultWhen'])}
      >
        <option value="unmatched">{t('settings.rules.when.unmatched')}</option>
        <option value="not_stopped">{t('settings.rules.when.not_stopped')}</option>
      </select>
      <label class="check">
        <input type="checkbox" checked={skip} onChange={(e) => setSkip(e.currentTarget.checked)} />{' '}
        {t('settings.rules.skipReplies')}
      </label>
      <label class="check">
        <input type="checkbox" checked={dedupe} onChange={(e) => setDedupe(e.currentTarget.checked)} />{' '}
        {t('settings.rules.dedupe')}
      </label>
      <label for="rules-allowlist">{t('settings.rules.allowlistField')}</label>
      <textarea
        {...allow.attrs}
        class="data-field short"
        value={allowlist}
        onInput={(e) => setAllowlist(e.currentTarget.value)}
      />
      <FieldError id="rules-allowlist" messages={allow.messages} />
      <label for="rules-timezone">{t('settings.rules.timeZone')}</label>
      <input {...tz.attrs} spellcheck={false} value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
      <FieldError id="rules-timezone" messages={tz.messages} />
      <label for="rules-actions">{t('settings.rules.defaultActionsField')}</label>
      <textarea
        {...acts.attrs}
        class="data-field"
        spellcheck={false}
        value={actions}
        onInput={(e) => setActions(e.currentTarget.value)}
      />
      <FieldError id="rules-actions" messages={acts.messages} />
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
