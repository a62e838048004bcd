import { useI18n } from '../i18n/index.js';
import { href } from '../router.js';

/** The two lists of the mail screen, as tabs (links, so each has its address). */
export function MailTabs({ current }: { current: 'messages' | 'catcher' }) {
  const { t } = useI18n();
  return (
    <nav class="tabs" aria-label={t('mail.title')}>
      <a href={href('/mail')} aria-current={current === 'messages' ? 'page' : undefined}>
        {t('mail.messages')}
      </a>
      <a href={href('/mail/catcher')} aria-current={current === 'catcher' ? 'page' : undefined}>
        {t('mail.catcher')}
      </a>
    </nav>
  );
}
