import { useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { Alert } from "../components/Alert";
import { graphql } from "../gql";
import type { OrderStatusSubscription } from "../gql/graphql";
import { describeCountdown, formatCountdown, secondsLeft } from "../lib/countdown";
import { describeError } from "../lib/errors";
import { formatCents } from "../lib/money";
import { newest, ORDER_STATUS_WORDS } from "../lib/status";
import { PaymentForm } from "../payments/PaymentForm";

const OrderQuery = graphql(`
  query Order($id: ID!) {
    order(id: $id) {
      id
      status
      expiresAt
      priceCents
      version
      ticket {
        id
        title
      }
    }
  }
`);

const OrderStatusSubscriptionDocument = graphql(`
  subscription OrderStatus($orderId: ID!) {
    orderStatus(orderId: $orderId) {
      id
      status
      expiresAt
      version
    }
  }
`);

const CancelOrderMutation = graphql(`
  mutation CancelOrder($id: ID!) {
    cancelOrder(id: $id) {
      id
      status
      expiresAt
      version
    }
  }
`);

type OrderEvent = OrderStatusSubscription["orderStatus"];

function keepNewest(previous: OrderEvent | undefined, data: OrderStatusSubscription): OrderEvent {
  return newest(previous, data.orderStatus) ?? data.orderStatus;
}

/** The current time, once a second while `running`. */
function useNow(running: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) return undefined;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [running]);
  return now;
}

/** `/orders/:id`: the order's live status, the time left to pay, the payment form, and Cancel. */
export function OrderPage() {
  const { id = "" } = useParams();
  const [{ data, fetching, error }] = useQuery({ query: OrderQuery, variables: { id } });
  const [live] = useSubscription({ query: OrderStatusSubscriptionDocument, variables: { orderId: id } }, keepNewest);
  const [cancelState, cancelOrder] = useMutation(CancelOrderMutation);
  const order = data?.order;
  const current = newest(order, live.data, cancelState.data?.cancelOrder);
  const status = current?.status;
  const now = useNow(status === "CREATED");

  if (!data) {
    return fetching ? (
      <p className="loading">Loading the order…</p>
    ) : (
      <Alert message={describeError(error).message ?? "Could not load the order."} />
    );
  }
  if (!order || !current || !status) {
    return (
      <>
        <title>No such order · ticket-store</title>
        <h1>No such order</h1>
        <p>
          See <Link to="/orders">your orders</Link>.
        </p>
      </>
    );
  }
  const left = secondsLeft(current.expiresAt, now);
  const payable = status === "CREATED" && left > 0;
  return (
    <>
      <title>{`Order for ${order.ticket.title} · ticket-store`}</title>
      <article className="order">
        <h1>
          Order for <Link to={`/tickets/${order.ticket.id}`}>{order.ticket.title}</Link>
        </h1>
        <p className="price">{formatCents(order.priceCents)}</p>
        <p role="status" className={`status status-${status.toLowerCase()}`}>
          {ORDER_STATUS_WORDS[status]}
        </p>
        {live.error ? <p className="hint">Live updates paused: {describeError(live.error).message}</p> : null}
        {status === "CREATED" ? (
          left > 0 ? (
            <p className="countdown">
              Time left to pay:{" "}
              <time dateTime={`PT${left}S`} aria-label={describeCountdown(left)}>
                {formatCountdown(left)}
              </time>
            </p>
          ) : (
            <p className="countdown">Time is up: the order is being cancelled.</p>
          )
        ) : null}
        {status === "COMPLETE" ? <p>Paid. The ticket is yours.</p> : null}
        {status === "CANCELLED" ? (
          <p>
            This order is cancelled; <Link to={`/tickets/${order.ticket.id}`}>the ticket</Link> is free for anyone
            to buy.
          </p>
        ) : null}
        {payable ? (
          <>
            <PaymentForm orderId={order.id} amountCents={order.priceCents} />
            <Alert message={describeError(cancelState.error).message} />
            <button
              type="button"
              className="secondary"
              disabled={cancelState.fetching}
              onClick={() => void cancelOrder({ id: order.id })}
            >
              Cancel order
            </button>
          </>
        ) : null}
      </article>
    </>
  );
}
