import { useState } from "react";
import { NavLink, Route, Routes, useNavigate } from "react-router";
import { Provider, useMutation } from "urql";
import { createApiClient } from "./api/client";
import { graphql } from "./gql";
import { AuthPage } from "./pages/AuthPage";
import { NewTicketPage } from "./pages/NewTicketPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { OrderPage } from "./pages/OrderPage";
import { OrdersPage } from "./pages/OrdersPage";
import { TicketPage } from "./pages/TicketPage";
import { TicketsPage } from "./pages/TicketsPage";
import { useSession } from "./session/context";
import { RequireUser, SessionProvider } from "./session/SessionProvider";

const SignOutMutation = graphql(`
  mutation SignOut {
    signOut
  }
`);

export function App() {
  // One API client per session: signing in or out replaces it (see SessionProvider).
  const [client, setClient] = useState(createApiClient);
  return (
    <Provider value={client}>
      <SessionProvider restart={() => setClient(createApiClient())}>
        <Header />
        <main id="main" className="page">
          <Routes>
            <Route index element={<TicketsPage />} />
            <Route path="signup" element={<AuthPage key="signup" mode="signup" />} />
            <Route path="signin" element={<AuthPage key="signin" mode="signin" />} />
            <Route path="tickets/new" element={<RequireUser>{() => <NewTicketPage />}</RequireUser>} />
            <Route path="tickets/:id" element={<TicketPage />} />
            <Route path="orders" element={<RequireUser>{() => <OrdersPage />}</RequireUser>} />
            <Route path="orders/:id" element={<RequireUser>{() => <OrderPage />}</RequireUser>} />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </main>
      </SessionProvider>
    </Provider>
  );
}

function Header() {
  const { user, restart } = useSession();
  const [{ fetching }, signOut] = useMutation(SignOutMutation);
  const navigate = useNavigate();

  async function leave() {
    await signOut({});
    restart();
    void navigate("/");
  }

  return (
    <header className="site-header">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <nav aria-label="Main" className="nav">
        <NavLink to="/" end className="brand-link">
          Tickets
        </NavLink>
        <NavLink to="/tickets/new">Sell a ticket</NavLink>
        <NavLink to="/orders" end>
          My orders
        </NavLink>
      </nav>
      <div className="account">
        {user ? (
          <>
            <span className="who" title={user.email}>
              {user.email}
            </span>
            <button type="button" className="secondary" onClick={() => void leave()} disabled={fetching}>
              Sign out
            </button>
          </>
        ) : user === null ? (
          <>
            <NavLink to="/signin">Sign in</NavLink>
            <NavLink to="/signup">Sign up</NavLink>
          </>
        ) : null}
      </div>
    </header>
  );
}
