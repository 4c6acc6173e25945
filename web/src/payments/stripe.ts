// Stripe.js, loaded from the address the gateway names in GET /client-config.json (real Stripe in production,
// the localstripe emulator's stand-in in development), never bundled and never from a hard-coded host.
import type { Stripe, StripeConstructor } from "@stripe/stripe-js";
import { useEffect, useState } from "react";

export interface ClientConfig {
  stripeJsUrl: string;
  stripePublishableKey: string;
  stripeTestMode: boolean;
}

/** The gateway's /client-config.json, checked; throws on anything else. */
export function parseClientConfig(body: unknown): ClientConfig {
  const value = (body ?? {}) as Record<string, unknown>;
  const { stripeJsUrl, stripePublishableKey, stripeTestMode } = value;
  if (typeof stripeJsUrl !== "string" || !/^https?:\/\//.test(stripeJsUrl)) {
    throw new Error("client-config.json: stripeJsUrl must be an http(s) address");
  }
  if (typeof stripePublishableKey !== "string" || !stripePublishableKey.startsWith("pk_")) {
    throw new Error("client-config.json: stripePublishableKey must be a publishable key (pk_...)");
  }
  if (typeof stripeTestMode !== "boolean") {
    throw new Error("client-config.json: stripeTestMode must be true or false");
  }
  return { stripeJsUrl, stripePublishableKey, stripeTestMode };
}

async function fetchClientConfig(signal: AbortSignal): Promise<ClientConfig> {
  const response = await fetch("/client-config.json", { signal, credentials: "same-origin" });
  if (!response.ok) {
    throw new Error(`client-config.json: HTTP ${response.status}`);
  }
  return parseClientConfig(await response.json());
}

/** Adds Stripe.js to the page once (the page's <script> element is the only record of it) and waits for it. */
function loadStripeJs(url: string): Promise<StripeConstructor> {
  return new Promise((resolve, reject) => {
    const loaded = () => (window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js did not load")));
    let script = document.querySelector<HTMLScriptElement>(`script[data-stripe-js="${CSS.escape(url)}"]`);
    if (script?.dataset.loaded === "true") {
      loaded();
      return;
    }
    if (!script) {
      script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.dataset.stripeJs = url;
      const added = script;
      added.addEventListener("load", () => {
        added.dataset.loaded = "true";
      });
      added.addEventListener("error", () => added.remove()); // the next payment form tries again
      document.head.append(added);
    }
    script.addEventListener("load", loaded);
    script.addEventListener("error", () => reject(new Error(`Stripe.js could not be loaded from ${url}`)));
  });
}

export type StripeState =
  | { status: "loading" }
  | { status: "ready"; stripe: Stripe; testMode: boolean }
  | { status: "failed"; message: string };

/** Stripe.js for the payment form: the client configuration, then the script, then `Stripe(publishableKey)`. */
export function useStripe(): StripeState {
  const [state, setState] = useState<StripeState>({ status: "loading" });
  useEffect(() => {
    const controller = new AbortController();
    let ignore = false;
    async function load() {
      try {
        const config = await fetchClientConfig(controller.signal);
        const StripeJs = await loadStripeJs(config.stripeJsUrl);
        if (!ignore) {
          setState({ status: "ready", stripe: StripeJs(config.stripePublishableKey), testMode: config.stripeTestMode });
        }
      } catch (error) {
        if (!ignore) {
          console.warn("payments unavailable:", error);
          setState({ status: "failed", message: "Payments are unavailable right now. Please try again later." });
        }
      }
    }
    void load();
    return () => {
      ignore = true;
      controller.abort();
    };
  }, []);
  return state;
}
