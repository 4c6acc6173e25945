// Who is signed in: the gateway's `me` (the session itself is an httpOnly cookie that scripts never see).
import type { ReactNode } from "react";
import { Navigate, useLocation } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../gql";
import { SessionContext, useSession, type User } from "./context";

const MeQuery = graphql(`
  query Me {
    me {
      id
      email
    }
  }
`);

export function SessionProvider({ restart, children }: { restart: () => void; children: ReactNode }) {
  const [{ data, fetching, error }] = useQuery({ query: MeQuery });
  // While the first answer is on its way the user is unknown (undefined); an error counts as signed out.
  const user = data ? data.me : fetching ? undefined : error ? null : undefined;
  return <SessionContext value={{ user, restart }}>{children}</SessionContext>;
}

/** Renders `children` for a signed-in user; sends anyone else to /signin, and back here afterwards. */
export function RequireUser({ children }: { children: (user: User) => ReactNode }) {
  const { user } = useSession();
  const location = useLocation();
  if (user === undefined) {
    return <p className="loading">Loading…</p>;
  }
  if (user === null) {
    return <Navigate to="/signin" replace state={{ from: location.pathname }} />;
  }
  return children(user);
}
