import type { I18n, MessageKey } from '../i18n/index.js';

/** The roles, least first. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;

/** A role in words. */
export function roleLabel(t: I18n['t'], role: string | null): string {
  return role === 'viewer' || role === 'operator' || role === 'admin'
    ? t(`settings.role.${role}` as MessageKey)
    : (role ?? '');
}

/** Epoch milliseconds as ISO, for `formatTime`. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
