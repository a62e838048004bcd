import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './api.js';

/** The signed-in session, for screens that show or hide what the user's role allows. */
export const SessionContext = createContext<Session | undefined>(undefined);

const ORDER = ['viewer', 'operator', 'admin'];

/** The session of the screen being shown (always set inside the signed-in shell). */
export function useSession(): Session {
  return useContext(SessionContext) as Session;
}

/** True when the signed-in user's role is `role` or above (the API still decides). */
export function useRoleAtLeast(role: 'viewer' | 'operator' | 'admin'): boolean {
  const session = useContext(SessionContext);
  return ORDER.indexOf(session?.user.role ?? 'viewer') >= ORDER.indexOf(role);
}
