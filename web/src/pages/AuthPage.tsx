import { useState, type SubmitEvent } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { useMutation } from "urql";
import { Alert } from "../components/Alert";
import { Field } from "../components/Field";
import { graphql } from "../gql";
import { describeError, type Problem } from "../lib/errors";
import { formText } from "../lib/forms";
import { useSession } from "../session/context";

const SignUpMutation = graphql(`
  mutation SignUp($email: String!, $password: String!) {
    signUp(email: $email, password: $password) {
      user {
        id
        email
      }
    }
  }
`);

const SignInMutation = graphql(`
  mutation SignIn($email: String!, $password: String!) {
    signIn(email: $email, password: $password) {
      user {
        id
        email
      }
    }
  }
`);

const FIELDS = { email: "email", password: "password" } as const;

function returnPath(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  return typeof from === "string" && from.startsWith("/") && !from.startsWith("//") ? from : "/";
}

/** `/signup` and `/signin`: email and password; the gateway answers with the session cookie. */
export function AuthPage({ mode }: { mode: "signup" | "signin" }) {
  const signingUp = mode === "signup";
  const [signUpState, signUp] = useMutation(SignUpMutation);
  const [signInState, signIn] = useMutation(SignInMutation);
  const [problem, setProblem] = useState<Problem | null>(null);
  const { restart } = useSession();
  const navigate = useNavigate();
  const location = useLocation();
  const busy = signingUp ? signUpState.fetching : signInState.fetching;
  const title = signingUp ? "Sign up" : "Sign in";

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const variables = { email: formText(form, "email"), password: formText(form, "password") };
    const result = signingUp ? await signUp(variables) : await signIn(variables);
    if (result.error) {
      setProblem(describeError(result.error, FIELDS));
      return;
    }
    setProblem(null);
    restart();
    void navigate(returnPath(location.state), { replace: true });
  }

  return (
    <>
      <title>{`${title} · ticket-store`}</title>
      <h1>{title}</h1>
      <form className="form" onSubmit={(event) => void submit(event)} noValidate>
        <Alert message={problem?.message} />
        <Field
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          error={problem?.fields.email}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete={signingUp ? "new-password" : "current-password"}
          required
          minLength={signingUp ? 8 : undefined}
          hint={signingUp ? "8 to 128 characters." : undefined}
          error={problem?.fields.password}
        />
        <button type="submit" disabled={busy}>
          {title}
        </button>
      </form>
      <p>
        {signingUp ? (
          <>
            Have an account? <Link to="/signin" state={location.state as unknown}>Sign in instead</Link>
          </>
        ) : (
          <>
            New here? <Link to="/signup" state={location.state as unknown}>Create an account</Link>
          </>
        )}
      </p>
    </>
  );
}
