// GraphiQL, built by our Vite build from npm packages (no CDN): the README's tour starts here, so it must work on a
// closed network and under the production content security policy (scripts from our origin only).
// Monaco's workers: bundled by Vite as files under /assets/ (script-src 'self' covers them).
import "graphiql/setup-workers/vite";
import { explorerPlugin } from "@graphiql/plugin-explorer";
import "@graphiql/plugin-explorer/style.css";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import "graphiql/style.css";
import { createClient } from "graphql-ws";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { fetchWithSession, websocketUrl } from "./endpoint";
import "./graphiql.css";

const fetcher = createGraphiQLFetcher({
  url: "/graphql",
  fetch: fetchWithSession,
  enableIncrementalDelivery: false, // the gateway answers one JSON result per request
  // Lazy: opens on the first subscription. The handshake carries the session cookie (same origin).
  wsClient: createClient({ url: websocketUrl(window.location), lazy: true }),
});
const plugins = [explorerPlugin()];

const root = document.getElementById("graphiql");
if (!root) {
  throw new Error("graphiql.html has no #graphiql");
}
createRoot(root).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      plugins={plugins}
      defaultEditorToolsVisibility
      isHeadersEditorEnabled
      inputValueDeprecation
    />
  </StrictMode>,
);
