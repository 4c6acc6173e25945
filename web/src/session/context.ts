// Who is signed in, for every page: see SessionProvider.
import { createContext, use } from "react";

export interface User {
  id: string;
  email: string;
}

export interface Session {
  /** Undefined while the first answer is on its way. */
  user: User | null | undefined;
  /** After signing in or out: a new API client (fresh cache, a websocket with the new cookie), `me` asked again. */
  restart: () => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = use(SessionContext);
  if (session === null) {
    throw new Error("useSession outside <SessionProvider>");
  }
  return session;
}
