import { GraphQLError } from "graphql";
import { CombinedError } from "urql";
import { describe, expect, it } from "vitest";
import { actionRequired, describeError, NO_PROBLEM } from "./errors";

function apiError(message: string, extensions: Record<string, unknown>): CombinedError {
  return new CombinedError({ graphQLErrors: [new GraphQLError(message, { extensions })] });
}

describe("describeError", () => {
  it("is nothing without an error", () => {
    expect(describeError(undefined)).toEqual(NO_PROBLEM);
  });

  it("puts BAD_USER_INPUT messages beside the fields the form shows, under the form's names", () => {
    const error = apiError("invalid input", {
      code: "BAD_USER_INPUT",
      fields: [
        { field: "title", message: "must not be empty" },
        { field: "priceCents", message: "at least 50" },
      ],
    });
    expect(describeError(error, { title: "title", priceCents: "price" })).toEqual({
      message: null,
      fields: { title: "Must not be empty.", price: "At least 50." },
      code: "BAD_USER_INPUT",
    });
  });

  it("sends a field the form does not show to the alert, naming it", () => {
    const error = apiError("invalid input", {
      code: "BAD_USER_INPUT",
      fields: [{ field: "ticketId", message: "not an id" }],
    });
    expect(describeError(error, { title: "title" })).toEqual({
      message: "Ticket id: not an id.",
      fields: {},
      code: "BAD_USER_INPUT",
    });
  });

  it("names a field in words", () => {
    const error = apiError("invalid input", {
      code: "BAD_USER_INPUT",
      fields: [{ field: "paymentMethod", message: "unknown payment method" }],
    });
    expect(describeError(error).message).toBe("Payment method: unknown payment method.");
  });

  it("shows BAD_USER_INPUT without fields as an alert", () => {
    expect(describeError(apiError("email is malformed", { code: "BAD_USER_INPUT" }))).toMatchObject({
      message: "Email is malformed.",
      fields: {},
    });
  });

  it("says how long to wait when rate limited", () => {
    const problem = describeError(apiError("slow down", { code: "RATE_LIMITED", retryAfterSeconds: 42 }));
    expect(problem).toEqual({ message: "Too many attempts. Try again in 42 seconds.", fields: {}, code: "RATE_LIMITED" });
    expect(describeError(apiError("x", { code: "RATE_LIMITED", retryAfterSeconds: 1 })).message).toBe(
      "Too many attempts. Try again in 1 second.",
    );
    expect(describeError(apiError("x", { code: "RATE_LIMITED" })).message).toBe("Too many attempts. Try again shortly.");
  });

  it("shows the server's words for sign-in, conflicts and declines", () => {
    expect(describeError(apiError("invalid credentials", { code: "UNAUTHENTICATED" })).message).toBe(
      "Invalid credentials.",
    );
    expect(describeError(apiError("ticket is reserved", { code: "CONFLICT" }))).toEqual({
      message: "Ticket is reserved.",
      fields: {},
      code: "CONFLICT",
    });
    expect(describeError(apiError("card declined: Your card was declined.", { code: "PAYMENT_FAILED" })).message).toBe(
      "Card declined: Your card was declined.",
    );
  });

  it("never shows an internal error's text", () => {
    expect(describeError(apiError("internal error", { code: "INTERNAL" })).message).toBe(
      "Something went wrong on our side. Please try again.",
    );
  });

  it("asks to sign in on a bare UNAUTHENTICATED", () => {
    expect(describeError(apiError("unauthenticated", { code: "UNAUTHENTICATED" })).message).toBe("Please sign in first.");
  });

  it("reports an unreachable server", () => {
    const error = new CombinedError({ networkError: new TypeError("Failed to fetch") });
    expect(describeError(error)).toEqual({
      message: "Cannot reach the server. Check your connection and try again.",
      fields: {},
      code: "NETWORK",
    });
  });

  it("does not repeat the same message", () => {
    const error = new CombinedError({
      graphQLErrors: [
        new GraphQLError("internal error", { extensions: { code: "INTERNAL" } }),
        new GraphQLError("internal error", { extensions: { code: "INTERNAL" } }),
      ],
    });
    expect(describeError(error).message).toBe("Something went wrong on our side. Please try again.");
  });
});

describe("actionRequired", () => {
  it("finds the client secret of a payment that needs 3-D Secure", () => {
    const error = apiError("the card needs authentication", {
      code: "PAYMENT_ACTION_REQUIRED",
      clientSecret: "pi_123_secret_abc",
    });
    expect(actionRequired(error)).toBe("pi_123_secret_abc");
  });

  it("is null for other errors and for none", () => {
    expect(actionRequired(undefined)).toBeNull();
    expect(actionRequired(apiError("declined", { code: "PAYMENT_FAILED" }))).toBeNull();
    expect(actionRequired(apiError("odd", { code: "PAYMENT_ACTION_REQUIRED" }))).toBeNull();
  });
});
