// Pages for people who are not logged in: log in, sign up, verify the emailed code, forgot
// and reset password.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, USER_FIELDS, begin, gql } from "../api";
import { navigate } from "../router";
import { Field, Problem, useForm } from "../parts/ui";

const AUTH = `accessToken refreshToken expiresIn user { ${USER_FIELDS} }`;

function Card(props: { title: string; children: ComponentChildren }) {
  return (
    <main class="auth" id="main">
      <div class="card">
        <p class="brand">CronOps</p>
        <h1>{props.title}</h1>
        {props.children}
      </div>
    </main>
  );
}

export function Login({ next }: { next: string }) {
  const form = useForm({ email: "", password: "" });
  return (
    <Card title="Log in">
      <form
        onSubmit={form.submit(async () => {
          try {
            const data = await gql<{ login: never }>(
              `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { ${AUTH} } }`,
              form.values,
            );
            begin(data.login);
            navigate(next, true);
          } catch (e) {
            if (e instanceof ApiError && e.reason === "EMAIL_NOT_VERIFIED") {
              navigate(`/verify?email=${encodeURIComponent(form.values.email)}`);
              return;
            }
            throw e;
          }
        })}
      >
        <Field label="Email" error={form.fields.email}>
          {(p) => <input {...p} {...form.bind("email")} type="email" autocomplete="username" required />}
        </Field>
        <Field label="Password" error={form.fields.password}>
          {(p) => <input {...p} {...form.bind("password")} type="password" autocomplete="current-password" required />}
        </Field>
        <Problem error={form.general} />
        <button class="primary wide" disabled={form.busy}>
          Log in
        </button>
      </form>
      <p>
        <a href="/forgot-password">Forgot your password?</a> · <a href="/signup">Create an account</a>
      </p>
    </Card>
  );
}

export function Signup() {
  const form = useForm({ name: "", email: "", password: "" });
  return (
    <Card title="Create your account">
      <form
        onSubmit={form.submit(async () => {
          await gql(
            `mutation Signup($input: SignupInput!) { signup(input: $input) { message } }`,
            { input: form.values },
          );
          navigate(`/verify?email=${encodeURIComponent(form.values.email)}`);
        })}
      >
        <Field label="Name" error={form.fields.name}>
          {(p) => <input {...p} {...form.bind("name")} autocomplete="name" required />}
        </Field>
        <Field label="Email" error={form.fields.email}>
          {(p) => <input {...p} {...form.bind("email")} type="email" autocomplete="email" required />}
        </Field>
        <Field
          label="Password"
          error={form.fields.password}
          hint="At least 8 characters, with a letter and a digit."
        >
          {(p) => <input {...p} {...form.bind("password")} type="password" autocomplete="new-password" required />}
        </Field>
        <Problem error={form.general} />
        <button class="primary wide" disabled={form.busy}>
          Sign up
        </button>
      </form>
      <p>
        Have an account? <a href="/login">Log in</a>
      </p>
    </Card>
  );
}

export function Verify({ email }: { email: string }) {
  const form = useForm({ email, otp: "" });
  const [resent, setResent] = useState(false);
  return (
    <Card title="Check your email">
      <p>We sent a 6-digit code to {email || "your address"}. It is valid for a few minutes.</p>
      <form
        onSubmit={form.submit(async () => {
          const data = await gql<{ verifyEmail: never }>(
            `mutation Verify($email: String!, $otp: String!) { verifyEmail(email: $email, otp: $otp) { ${AUTH} } }`,
            form.values,
          );
          begin(data.verifyEmail);
          navigate("/", true);
        })}
      >
        {!email && (
          <Field label="Email" error={form.fields.email}>
            {(p) => <input {...p} {...form.bind("email")} type="email" autocomplete="email" required />}
          </Field>
        )}
        <Field label="Code" error={form.fields.otp}>
          {(p) => (
            <input
              {...p}
              {...form.bind("otp")}
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxLength={6}
              required
            />
          )}
        </Field>
        <Problem error={form.general} />
        <button class="primary wide" disabled={form.busy}>
          Verify
        </button>
      </form>
      <p>
        {resent ? (
          <span role="status">A new code is on its way.</span>
        ) : (
          <button
            type="button"
            class="link"
            onClick={form.submit(async () => {
              await gql(`mutation Resend($email: String!) { resendVerification(email: $email) }`, {
                email: form.values.email,
              });
              setResent(true);
            })}
          >
            Send a new code
          </button>
        )}
      </p>
    </Card>
  );
}

export function Forgot() {
  const form = useForm({ email: "" });
  const [sent, setSent] = useState(false);
  return (
    <Card title="Reset your password">
      {sent ? (
        <p role="status">If {form.values.email} has an account, a link to reset its password is on its way.</p>
      ) : (
        <form
          onSubmit={form.submit(async () => {
            await gql(`mutation Forgot($email: String!) { forgotPassword(email: $email) }`, form.values);
            setSent(true);
          })}
        >
          <Field label="Email" error={form.fields.email}>
            {(p) => <input {...p} {...form.bind("email")} type="email" autocomplete="email" required />}
          </Field>
          <Problem error={form.general} />
          <button class="primary wide" disabled={form.busy}>
            Email me a link
          </button>
        </form>
      )}
      <p>
        <a href="/login">Back to log in</a>
      </p>
    </Card>
  );
}

/** Keeps a mailed token out of the address bar (and history) once the page has it. */
function useForgetQuery() {
  useEffect(() => history.replaceState(null, "", location.pathname), []);
}

export function Reset({ token: given }: { token: string }) {
  const [token] = useState(given);
  useForgetQuery();
  const form = useForm({ newPassword: "" });
  const [done, setDone] = useState(false);
  return (
    <Card title="Choose a new password">
      {done ? (
        <p role="status">
          Your password is changed and every session ended. <a href="/login">Log in</a>
        </p>
      ) : (
        <form
          onSubmit={form.submit(async () => {
            await gql(`mutation Reset($token: String!, $newPassword: String!) { resetPassword(token: $token, newPassword: $newPassword) }`, {
              token,
              newPassword: form.values.newPassword,
            });
            setDone(true);
          })}
        >
          <Field label="New password" error={form.fields.newPassword}>
            {(p) => <input {...p} {...form.bind("newPassword")} type="password" autocomplete="new-password" required />}
          </Field>
          <Problem error={form.general} />
          <button class="primary wide" disabled={form.busy}>
            Set password
          </button>
        </form>
      )}
    </Card>
  );
}

/** The link mailed to a new email channel: opening it verifies the channel. */
export function VerifyChannel({ token: given }: { token: string }) {
  const [token] = useState(given);
  useForgetQuery();
  const [state, setState] = useState<{ done: string | null; error: unknown }>({ done: null, error: null });
  useEffect(() => {
    gql<{ verifyNotificationChannel: { name: string } }>(
      `mutation VerifyChannel($token: String!) { verifyNotificationChannel(token: $token) { name } }`,
      { token },
    ).then(
      (data) => setState({ done: data.verifyNotificationChannel.name, error: null }),
      (error) => setState({ done: null, error }),
    );
  }, [token]);
  return (
    <Card title="Notification channel">
      {state.done ? <p role="status">“{state.done}” is verified: alerts will reach it.</p> : <Problem error={state.error} />}
      {!state.done && !state.error && <p class="loading">Verifying…</p>}
      <p>
        <a href="/">Go to the dashboard</a>
      </p>
    </Card>
  );
}
