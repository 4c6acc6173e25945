import { useState } from "react";
import { Link } from "react-router";
import { useQuery } from "urql";
import { Alert } from "../components/Alert";
import { graphql } from "../gql";
import { describeError } from "../lib/errors";
import { formatCents } from "../lib/money";

const PAGE_SIZE = 20;

const TicketsQuery = graphql(`
  query Tickets($first: Int!, $after: String) {
    tickets(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          title
          priceCents
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

/** `/`: tickets for sale, newest first; more on demand. */
export function TicketsPage() {
  // One entry per page shown: the cursor it starts after (null: the first page).
  const [pages, setPages] = useState<ReadonlyArray<string | null>>([null]);
  return (
    <>
      <title>Tickets for sale · ticket-store</title>
      <h1>Tickets for sale</h1>
      <ul className="ticket-list">
        {pages.map((after, index) => (
          <TicketsPageItems
            key={after ?? ""}
            after={after}
            isLast={index === pages.length - 1}
            isFirst={index === 0}
            onMore={(cursor) => setPages((shown) => [...shown, cursor])}
          />
        ))}
      </ul>
    </>
  );
}

interface ItemsProps {
  after: string | null;
  isFirst: boolean;
  isLast: boolean;
  onMore: (cursor: string) => void;
}

function TicketsPageItems({ after, isFirst, isLast, onMore }: ItemsProps) {
  const [{ data, fetching, error }] = useQuery({
    query: TicketsQuery,
    variables: { first: PAGE_SIZE, after },
    requestPolicy: "cache-and-network",
  });
  if (!data) {
    if (error) {
      return (
        <li className="list-message">
          <Alert message={describeError(error).message} />
        </li>
      );
    }
    return fetching ? <li className="list-message loading">Loading tickets…</li> : null;
  }
  const { edges, pageInfo } = data.tickets;
  return (
    <>
      {isFirst && edges.length === 0 ? (
        <li className="list-message">
          Nothing for sale right now. <Link to="/tickets/new">List yours</Link> and it will show here.
        </li>
      ) : null}
      {edges.map(({ node }) => (
        <li key={node.id} className="ticket-card">
          <Link to={`/tickets/${node.id}`}>{node.title}</Link>
          <span className="price">{formatCents(node.priceCents)}</span>
        </li>
      ))}
      {isLast && pageInfo.hasNextPage && pageInfo.endCursor ? (
        <li className="list-more">
          <button type="button" onClick={() => onMore(pageInfo.endCursor ?? "")}>
            Show more tickets
          </button>
        </li>
      ) : null}
    </>
  );
}
