// The app's strings in English and Spanish (src/i18n/*.json, checked for parity by the
// backend's tests). The language is the user's, else the one chosen on this device, else what
// the server negotiated for the page (the WISP's language, then the browser's).
import en from "./i18n/en.json";
import es from "./i18n/es.json";

type Catalog = Record<string, string>;
const CATALOGS: Record<string, Catalog> = { en, es };
export const LANGUAGES = ["en", "es"] as const;
const STORED = "wisp.lang";

let language = "en";

export function currentLanguage(): string {
  return language;
}

export function setLanguage(lang: string | null | undefined, remember = false): void {
  const chosen = lang && lang in CATALOGS ? lang : "en";
  language = chosen;
  document.documentElement.lang = chosen;
  if (remember) localStorage.setItem(STORED, chosen);
}

/** A language picked on this device wins over the account's until it is changed again. */
export function chosenLanguage(): string | null {
  return localStorage.getItem(STORED);
}

export function initialLanguage(serverLang: string | undefined): string {
  return localStorage.getItem(STORED) ?? serverLang ?? navigator.language.slice(0, 2);
}

export function t(key: string, params?: Record<string, string | number>): string {
  const text = CATALOGS[language]?.[key] ?? (CATALOGS.en as Catalog)[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m));
}
