// The payment form. Card details go from the browser to Stripe (Stripe.js) only; our API receives the id of a
// payment method and charges it with a PaymentIntent on the server (SPEC.md "Payments").
//
// How a payment method id is obtained:
// - "Test card" (test mode only): one of Stripe's documented test payment methods, by its id; no Stripe.js call.
// - Card element: stripe.createPaymentMethod({type: "card", card}) -> pm_... (real Stripe.js). The emulator's
//   stand-in resolves createPaymentMethod to nothing; then stripe.createToken(card) -> a token whose card
//   (card_..., a Card object, which Stripe's PaymentIntents accept as `payment_method`) is sent instead.
// Then payOrder(orderId, paymentMethod). A card that needs 3-D Secure answers PAYMENT_ACTION_REQUIRED with the
// PaymentIntent's client secret: stripe.confirmCardPayment(clientSecret) shows the bank's challenge, and when it
// reports success the same payOrder is sent again for the server to record the now-succeeded PaymentIntent.
// Nothing here ever reports a payment that the API did not confirm.
import type { Stripe, StripeCardElement, StripeError } from "@stripe/stripe-js";
import { useEffect, useId, useRef, useState, type SubmitEvent } from "react";
import { useMutation } from "urql";
import { Alert } from "../components/Alert";
import { graphql } from "../gql";
import { actionRequired, describeError } from "../lib/errors";
import { formatCents } from "../lib/money";
import { useStripe } from "./stripe";
import { TEST_CARDS } from "./testCards";

const PayOrderMutation = graphql(`
  mutation PayOrder($orderId: ID!, $paymentMethod: String!) {
    payOrder(orderId: $orderId, paymentMethod: $paymentMethod) {
      id
      orderId
      stripeId
      amountCents
    }
  }
`);


const USE_CARD_ELEMENT = "";

/** PaymentIntent states after which the server can record the payment (or will, once it settles). */
const AUTHENTICATED: ReadonlySet<string> = new Set(["succeeded", "processing", "requires_capture"]);

class PaymentProblem extends Error {}

function stripeMessage(error: StripeError | undefined, fallback: string): string {
  return error?.message ? error.message : fallback;
}

/** A payment method id for the card typed into the card element (see the top of this file). */
async function paymentMethodFromCard(stripe: Stripe, card: StripeCardElement): Promise<string> {
  // Typed as Stripe.js documents it; the emulator's stand-in returns undefined.
  const created = (await stripe.createPaymentMethod({ type: "card", card })) as
    | Awaited<ReturnType<Stripe["createPaymentMethod"]>>
    | undefined;
  if (created?.paymentMethod) {
    return created.paymentMethod.id;
  }
  if (created?.error) {
    throw new PaymentProblem(stripeMessage(created.error, "The card details are not valid."));
  }
  const tokenized = await stripe.createToken(card);
  if (tokenized.token?.card?.id) {
    return tokenized.token.card.id;
  }
  throw new PaymentProblem(stripeMessage(tokenized.error, "The card details are not valid."));
}

export function PaymentForm({ orderId, amountCents }: { orderId: string; amountCents: number }) {
  const stripeState = useStripe();
  const [testCard, setTestCard] = useState<string>(USE_CARD_ELEMENT);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [paid, setPaid] = useState(false);
  const [, payOrder] = useMutation(PayOrderMutation);
  const cardSlot = useRef<HTMLDivElement>(null);
  const card = useRef<StripeCardElement | null>(null);
  const stripe = stripeState.status === "ready" ? stripeState.stripe : null;
  const id = useId();

  // Mount Stripe's card element once Stripe.js is ready; destroy it when the form goes away.
  useEffect(() => {
    const slot = cardSlot.current;
    if (!stripe || !slot) return undefined;
    const element = stripe.elements().create("card");
    element.mount(slot);
    card.current = element;
    return () => {
      card.current = null;
      element.destroy();
    };
  }, [stripe]);

  async function pay(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!stripe) return;
    setBusy(true);
    setProblem(null);
    try {
      let paymentMethod: string = testCard;
      if (paymentMethod === USE_CARD_ELEMENT) {
        if (!card.current) throw new PaymentProblem("The card form is still loading.");
        paymentMethod = await paymentMethodFromCard(stripe, card.current);
      }
      let result = await payOrder({ orderId, paymentMethod });
      const clientSecret = actionRequired(result.error);
      if (clientSecret) {
        const confirmed = await stripe.confirmCardPayment(clientSecret);
        // The emulator reports a failed challenge as an intent back in requires_payment_method, not as an error.
        if (confirmed.error || !AUTHENTICATED.has(confirmed.paymentIntent.status)) {
          throw new PaymentProblem(stripeMessage(confirmed.error, "The card was not authenticated."));
        }
        result = await payOrder({ orderId, paymentMethod });
        if (actionRequired(result.error)) {
          throw new PaymentProblem("The card was not authenticated. Please try again.");
        }
      }
      if (result.error || !result.data) {
        throw new PaymentProblem(describeError(result.error).message ?? "The payment failed.");
      }
      setPaid(true);
    } catch (error) {
      setProblem(error instanceof PaymentProblem ? error.message : "The payment failed. Please try again.");
      if (!(error instanceof PaymentProblem)) console.warn("payment failed:", error);
    } finally {
      setBusy(false);
    }
  }

  if (paid) {
    return <p className="notice">Payment received. Confirming your order…</p>;
  }
  return (
    <form className="form payment" onSubmit={(event) => void pay(event)} aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>Pay {formatCents(amountCents)}</h2>
      <Alert message={stripeState.status === "failed" ? stripeState.message : problem} />
      {stripeState.status === "ready" && stripeState.testMode ? (
        <div className="field">
          <label htmlFor={`${id}-test-card`}>Test card</label>
          <select id={`${id}-test-card`} value={testCard} onChange={(event) => setTestCard(event.target.value)}>
            <option value={USE_CARD_ELEMENT}>None (card details below)</option>
            {TEST_CARDS.map((test) => (
              <option key={test.id} value={test.id}>
                {test.label}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <div className="field" hidden={testCard !== USE_CARD_ELEMENT}>
        <span className="label" id={`${id}-card`}>
          Card
        </span>
        <div ref={cardSlot} className="card-element" role="group" aria-labelledby={`${id}-card`} />
      </div>
      {stripeState.status === "loading" ? <p className="loading">Loading the payment form…</p> : null}
      <button type="submit" disabled={busy || stripeState.status !== "ready"}>
        Pay
      </button>
    </form>
  );
}
