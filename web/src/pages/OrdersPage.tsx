import { Link } from "react-router";
import { useQuery } from "urql";
import { Alert } from "../components/Alert";
import { graphql } from "../gql";
import { describeError } from "../lib/errors";
import { formatCents } from "../lib/money";
import { ORDER_STATUS_WORDS } from "../lib/status";

const MyOrdersQuery = graphql(`
  query MyOrders {
    myOrders {
      id
      status
      priceCents
      version
      ticket {
        id
        title
      }
    }
  }
`);

/** `/orders`: the signed-in buyer's orders, newest first. */
export function OrdersPage() {
  const [{ data, fetching, error }] = useQuery({ query: MyOrdersQuery, requestPolicy: "cache-and-network" });
  return (
    <>
      <title>My orders · ticket-store</title>
      <h1>My orders</h1>
      {!data ? (
        fetching ? (
          <p className="loading">Loading your orders…</p>
        ) : (
          <Alert message={describeError(error).message} />
        )
      ) : data.myOrders.length === 0 ? (
        <p className="list-message">
          No orders yet. Find something on the <Link to="/">tickets for sale</Link>.
        </p>
      ) : (
        <ul className="ticket-list">
          {data.myOrders.map((order) => (
            <li key={order.id} className="ticket-card">
              <Link to={`/orders/${order.id}`}>{order.ticket.title}</Link>
              <span className="price">{formatCents(order.priceCents)}</span>
              <span className={`badge status-${order.status.toLowerCase()}`}>{ORDER_STATUS_WORDS[order.status]}</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
