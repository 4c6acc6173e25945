/** An error the page could not place beside a field: announced at once (role="alert"). */
export function Alert({ message }: { message: string | null | undefined }) {
  return message ? (
    <p role="alert" className="alert">
      {message}
    </p>
  ) : null;
}
