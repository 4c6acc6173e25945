import { useState, type SubmitEvent } from "react";
import { useNavigate } from "react-router";
import { useMutation } from "urql";
import { Alert } from "../components/Alert";
import { Field } from "../components/Field";
import { graphql } from "../gql";
import { describeError, type Problem } from "../lib/errors";
import { formText } from "../lib/forms";
import { priceToCents } from "../lib/money";

const CreateTicketMutation = graphql(`
  mutation CreateTicket($title: String!, $priceCents: Int!) {
    createTicket(title: $title, priceCents: $priceCents) {
      id
      title
      priceCents
      sellerId
      status
      version
    }
  }
`);

const FIELDS = { title: "title", priceCents: "price" } as const;

/** `/tickets/new`: list a ticket; the price is typed in dollars and sent as integer cents. */
export function NewTicketPage() {
  const [{ fetching }, createTicket] = useMutation(CreateTicketMutation);
  const [problem, setProblem] = useState<Problem | null>(null);
  const navigate = useNavigate();

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const title = formText(form, "title").trim();
    const price = priceToCents(formText(form, "price"));
    const fields: Record<string, string> = {};
    if (!title) fields.title = "Enter a title.";
    if (!price.ok) fields.price = `${price.message}.`;
    if (!price.ok || !title) {
      setProblem({ message: null, fields, code: "BAD_USER_INPUT" });
      return;
    }
    const result = await createTicket({ title, priceCents: price.cents });
    if (result.error || !result.data) {
      setProblem(describeError(result.error, FIELDS));
      return;
    }
    void navigate(`/tickets/${result.data.createTicket.id}`);
  }

  return (
    <>
      <title>Sell a ticket · ticket-store</title>
      <h1>Sell a ticket</h1>
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <Alert message={problem?.message} />
        <Field label="Title" name="title" required maxLength={200} autoComplete="off" error={problem?.fields.title} />
        <Field
          label="Price"
          name="price"
          required
          inputMode="decimal"
          autoComplete="off"
          hint="In US dollars, such as 25.00."
          error={problem?.fields.price}
        />
        <button type="submit" disabled={fetching}>
          List ticket
        </button>
      </form>
    </>
  );
}
