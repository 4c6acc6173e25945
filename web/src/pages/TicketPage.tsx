import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { Alert } from "../components/Alert";
import { graphql } from "../gql";
import type { TicketStatus, TicketStatusSubscription } from "../gql/graphql";
import { describeError } from "../lib/errors";
import { formatCents } from "../lib/money";
import { newest, TICKET_STATUS_WORDS } from "../lib/status";
import { useSession } from "../session/context";

const TicketQuery = graphql(`
  query Ticket($id: ID!) {
    ticket(id: $id) {
      id
      title
      priceCents
      sellerId
      status
      version
    }
  }
`);

const TicketStatusSubscriptionDocument = graphql(`
  subscription TicketStatus($ticketId: ID!) {
    ticketStatus(ticketId: $ticketId) {
      ticketId
      status
      version
      orderId
    }
  }
`);

const CreateOrderMutation = graphql(`
  mutation CreateOrder($ticketId: ID!) {
    createOrder(ticketId: $ticketId) {
      id
      status
      expiresAt
      version
    }
  }
`);

type StatusEvent = TicketStatusSubscription["ticketStatus"];

/** Keeps the newest event only: events carry the ticket's version. */
function keepNewest(previous: StatusEvent | undefined, data: TicketStatusSubscription): StatusEvent {
  return newest(previous, data.ticketStatus) ?? data.ticketStatus;
}

/** `/tickets/:id`: the ticket, its live status, and Buy. */
export function TicketPage() {
  const { id = "" } = useParams();
  const [{ data, fetching, error }] = useQuery({ query: TicketQuery, variables: { id } });
  const [live] = useSubscription({ query: TicketStatusSubscriptionDocument, variables: { ticketId: id } }, keepNewest);

  if (!data) {
    return fetching ? (
      <p className="loading">Loading the ticket…</p>
    ) : (
      <Alert message={describeError(error).message ?? "Could not load the ticket."} />
    );
  }
  const ticket = data.ticket;
  if (!ticket) {
    return (
      <>
        <title>No such ticket · ticket-store</title>
        <h1>No such ticket</h1>
        <p>
          It may have been removed. See the <Link to="/">tickets for sale</Link>.
        </p>
      </>
    );
  }
  const status = newest<{ status: TicketStatus; version: number }>(ticket, live.data)?.status ?? ticket.status;
  return (
    <>
      <title>{`${ticket.title} · ticket-store`}</title>
      <article className="ticket">
        <h1>{ticket.title}</h1>
        <p className="price">{formatCents(ticket.priceCents)}</p>
        <p role="status" className={`status status-${status.toLowerCase()}`}>
          {TICKET_STATUS_WORDS[status]}
        </p>
        {live.error ? <p className="hint">Live updates paused: {describeError(live.error).message}</p> : null}
        <BuyArea ticketId={ticket.id} sellerId={ticket.sellerId} available={status === "AVAILABLE"} />
      </article>
    </>
  );
}

function BuyArea({ ticketId, sellerId, available }: { ticketId: string; sellerId: string; available: boolean }) {
  const { user } = useSession();
  const [{ fetching }, createOrder] = useMutation(CreateOrderMutation);
  const [message, setMessage] = useState<string | null>(null);
  const navigate = useNavigate();

  if (user === undefined) {
    return null;
  }
  if (user === null) {
    return available ? (
      <p>
        <Link to="/signin" state={{ from: `/tickets/${ticketId}` }}>
          Sign in to buy this ticket
        </Link>
      </p>
    ) : null;
  }
  if (user.id === sellerId) {
    return <p className="hint">You are selling this ticket.</p>;
  }

  async function buy() {
    const result = await createOrder({ ticketId });
    if (result.error || !result.data) {
      setMessage(describeError(result.error).message);
      return;
    }
    void navigate(`/orders/${result.data.createOrder.id}`);
  }

  return (
    <>
      <Alert message={message} />
      {available ? (
        <button type="button" onClick={() => void buy()} disabled={fetching}>
          Buy
        </button>
      ) : null}
    </>
  );
}
