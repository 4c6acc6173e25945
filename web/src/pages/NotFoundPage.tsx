import { Link } from "react-router";

export function NotFoundPage() {
  return (
    <>
      <title>Not found · ticket-store</title>
      <h1>Page not found</h1>
      <p>
        See the <Link to="/">tickets for sale</Link>.
      </p>
    </>
  );
}
