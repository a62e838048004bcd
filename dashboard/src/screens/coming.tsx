import { Screen } from '../common.js';
import { useI18n } from '../i18n/index.js';

/** A navigation entry whose screen is not built yet. */
export function Coming({ screen }: { screen: string }) {
  const { t } = useI18n();
  return (
    <Screen title={t('coming.title', { screen })}>
      <p class="note">{t('coming.body')}</p>
    </Screen>
  );
}
