import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { type Catalogue, en, type MessageKey } from './en.js';
import { fr } from './fr.js';

/** The dashboard's languages, each with one catalogue. */
export const LANGUAGES = ['en', 'fr'] as const;
/** A language of the dashboard. */
export type Language = (typeof LANGUAGES)[number];
export type { MessageKey };

const CATALOGUES: Record<Language, Catalogue> = { en, fr };
const STORAGE_KEY = 'facteur.lang';

/** The stored choice, else the browser's language when it is French, else English. */
export function initialLanguage(): Language {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    // storage refused (private mode): fall back to the browser's language
  }
  if (stored === 'en' || stored === 'fr') return stored;
  return navigator.language.toLowerCase().startsWith('fr') ? 'fr' : 'en';
}

/** Keeps the choice for the next visit and sets `<html lang>`. */
export function rememberLanguage(lang: Language): void {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // not kept: the choice lasts for this page only
  }
  document.documentElement.lang = lang;
}

/** A translator: the key's string in `lang`, with `{name}` replaced by `vars.name`. */
export function translator(lang: Language) {
  const catalogue = CATALOGUES[lang];
  return (key: MessageKey, vars: Record<string, string | number> = {}): string =>
    catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) =>
      name in vars ? String(vars[name]) : whole,
    );
}

/** What the components read: the language, its translator and the switch. */
export interface I18n {
  lang: Language;
  t: ReturnType<typeof translator>;
  setLang: (lang: Language) => void;
  /** A date and time in the language's form; '' for null. */
  formatTime: (iso: string | null | undefined) => string;
}

/** Builds the context value for `lang`. */
export function i18nFor(lang: Language, setLang: (lang: Language) => void): I18n {
  const format = new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', {
    dateStyle: 'short',
    timeStyle: 'medium',
  });
  return {
    lang,
    t: translator(lang),
    setLang,
    formatTime: (iso) => (iso ? format.format(new Date(iso)) : ''),
  };
}

export const I18nContext = createContext<I18n>(i18nFor('en', () => undefined));

/** The current language's strings. */
export function useI18n(): I18n {
  return useContext(I18nContext);
}
