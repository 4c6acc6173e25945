// GraphiQL talks to the page's own origin only: queries by POST to /graphql with the session cookie, subscriptions
// over graphql-transport-ws at the same address. (The gateway serves this page at GET /graphql.)

/** The websocket address of the API on the page's origin: ws://host/graphql, or wss:// under https. */
export function websocketUrl(location: Pick<Location, "protocol" | "host">): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/graphql`;
}

/** fetch with the cookie session: the httpOnly cookie that signUp/signIn set goes with every request. */
export function fetchWithSession(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  return fetch(input, { ...init, credentials: "same-origin" });
}
