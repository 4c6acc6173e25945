// API errors as the pages show them: BAD_USER_INPUT field messages beside their inputs, everything else as one
// sentence for an element with role="alert". Codes and extensions are the gateway's (SPEC.md "The public API").
import type { CombinedError } from "urql";

export interface Problem {
  /** For role="alert"; null when every message has a field to stand beside. */
  message: string | null;
  /** Field name (as the form names it) -> message. */
  fields: Record<string, string>;
  /** The first error's `extensions.code`, "NETWORK" when the server could not be reached, else null. */
  code: string | null;
}

export const NO_PROBLEM: Problem = { message: null, fields: {}, code: null };

/** The server fields a form shows beside an input: server field name -> the form's name for it,
 *  e.g. { title: "title", priceCents: "price" }. Messages for other fields go to the alert. */
export type FieldNames = Readonly<Record<string, string>>;

interface FieldViolation {
  field: string;
  message: string;
}

function isFieldViolation(value: unknown): value is FieldViolation {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Record<string, unknown>).field === "string" &&
    typeof (value as Record<string, unknown>).message === "string"
  );
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return trimmed;
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/** "paymentMethod" -> "payment method", "extensions.persistedQuery" -> "extensions persisted query". */
function words(field: string): string {
  return field
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[._]+/g, " ")
    .toLowerCase();
}

function messageFor(code: string | null, message: string, extensions: Record<string, unknown>): string {
  switch (code) {
    case "RATE_LIMITED": {
      const seconds = extensions.retryAfterSeconds;
      return typeof seconds === "number" && seconds > 0
        ? `Too many attempts. Try again in ${Math.ceil(seconds)} second${Math.ceil(seconds) === 1 ? "" : "s"}.`
        : "Too many attempts. Try again shortly.";
    }
    case "INTERNAL":
      return "Something went wrong on our side. Please try again.";
    case "UNAUTHENTICATED":
      return message && message !== "unauthenticated" ? sentence(message) : "Please sign in first.";
    case "FORBIDDEN":
      return message ? sentence(message) : "You are not allowed to do that.";
    default:
      return message ? sentence(message) : "Something went wrong. Please try again.";
  }
}

/** What a page shows for `error` (undefined: nothing). */
export function describeError(error: CombinedError | undefined, fieldNames: FieldNames = {}): Problem {
  if (!error) return NO_PROBLEM;
  if (error.graphQLErrors.length === 0) {
    return {
      message: "Cannot reach the server. Check your connection and try again.",
      fields: {},
      code: "NETWORK",
    };
  }
  const fields: Record<string, string> = {};
  const messages: string[] = [];
  let firstCode: string | null = null;
  for (const graphQLError of error.graphQLErrors) {
    const extensions = graphQLError.extensions as Record<string, unknown>;
    const code = typeof extensions.code === "string" ? extensions.code : null;
    firstCode ??= code;
    const violations = Array.isArray(extensions.fields) ? extensions.fields.filter(isFieldViolation) : [];
    if (code === "BAD_USER_INPUT" && violations.length > 0) {
      for (const violation of violations) {
        const name = fieldNames[violation.field];
        if (name !== undefined) {
          fields[name] ??= sentence(violation.message);
        } else {
          messages.push(sentence(`${words(violation.field)}: ${violation.message}`));
        }
      }
      continue;
    }
    messages.push(messageFor(code, graphQLError.message, extensions));
  }
  const unique = [...new Set(messages)];
  return { message: unique.length ? unique.join(" ") : null, fields, code: firstCode };
}

/**
 * The client secret of a payment that needs the buyer's authentication (3-D Secure): payOrder answers with an
 * error whose `extensions.code` is PAYMENT_ACTION_REQUIRED and whose `extensions.clientSecret` is the
 * PaymentIntent's client secret, for Stripe.js to complete. Null for any other outcome.
 */
export function actionRequired(error: CombinedError | undefined): string | null {
  for (const graphQLError of error?.graphQLErrors ?? []) {
    const extensions = graphQLError.extensions as Record<string, unknown>;
    if (extensions.code === "PAYMENT_ACTION_REQUIRED" && typeof extensions.clientSecret === "string") {
      return extensions.clientSecret;
    }
  }
  return null;
}
