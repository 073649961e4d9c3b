// The account: name, password and plan.

import { useState } from "preact/hooks";
import { USER_FIELDS, fieldErrors, gql, session, updateUser, type User } from "../api";
import { Field, Page, Problem, useQuery } from "../parts/ui";

interface PlanInfo {
  plan: string;
  maxJobs: number;
  minIntervalSeconds: number;
  maxTimeoutMs: number;
  maxRetries: number;
  logRetentionDays: number;
}

function Profile({ user }: { user: User }) {
  const [name, setName] = useState(user.name);
  const [state, setState] = useState<{ error: unknown; saved: boolean }>({ error: null, saved: false });
  return (
    <form
      class="panel"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          const data = await gql<{ updateProfile: User }>(
            `mutation Profile($input: UpdateProfileInput!) { updateProfile(input: $input) { ${USER_FIELDS} } }`,
            { input: { name } },
          );
          updateUser(data.updateProfile);
          setState({ error: null, saved: true });
        } catch (error) {
          setState({ error, saved: false });
        }
      }}
    >
      <h2>Profile</h2>
      <p class="muted">{user.email}</p>
      <Field label="Name" error={fieldErrors(state.error).name}>
        {(p) => <input {...p} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} autocomplete="name" />}
      </Field>
      {state.saved && <p role="status">Saved.</p>}
      <button class="primary">Save name</button>
    </form>
  );
}

function Password() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [state, setState] = useState<{ error: unknown; saved: boolean }>({ error: null, saved: false });
  const errors = fieldErrors(state.error);
  return (
    <form
      class="panel"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          await gql(`mutation Password($current: String!, $next: String!) { changePassword(currentPassword: $current, newPassword: $next) }`, {
            current,
            next,
          });
          setCurrent("");
          setNext("");
          setState({ error: null, saved: true });
        } catch (error) {
          setState({ error, saved: false });
        }
      }}
    >
      <h2>Password</h2>
      <Field label="Current password" error={errors.currentPassword}>
        {(p) => <input {...p} type="password" value={current} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} autocomplete="current-password" />}
      </Field>
      <Field label="New password" error={errors.newPassword}>
        {(p) => <input {...p} type="password" value={next} onInput={(e) => setNext((e.target as HTMLInputElement).value)} autocomplete="new-password" />}
      </Field>
      {!errors.currentPassword && !errors.newPassword && <Problem error={state.error} />}
      {state.saved && <p role="status">Password changed. Your other sessions have ended.</p>}
      <button class="primary">Change password</button>
    </form>
  );
}

function Plans({ user }: { user: User }) {
  const loaded = useQuery<{ plans: PlanInfo[] }>(
    `query Plans { plans { plan maxJobs minIntervalSeconds maxTimeoutMs maxRetries logRetentionDays } }`,
    {},
  );
  const [error, setError] = useState<unknown>(null);
  return (
    <section class="panel" id="plan" aria-labelledby="plan-title">
      <h2 id="plan-title">Plan</h2>
      <Problem error={loaded.error || error} />
      <div class="plans">
        {loaded.data?.plans.map((p) => (
          <div class={`plan${p.plan === user.plan ? " current" : ""}`} key={p.plan}>
            <h3>{p.plan}</h3>
            <ul>
              <li>{p.maxJobs} jobs</li>
              <li>runs as often as every {p.minIntervalSeconds} s</li>
              <li>timeouts up to {p.maxTimeoutMs / 1000} s, {p.maxRetries} retries</li>
              <li>runs kept {p.logRetentionDays} days</li>
            </ul>
            {p.plan === user.plan ? (
              <p>
                <strong>Your plan</strong>
              </p>
            ) : (
              <button
                type="button"
                class="primary"
                onClick={async () => {
                  try {
                    const data = await gql<{ updatePlan: User }>(`mutation Plan($plan: Plan!) { updatePlan(plan: $plan) { ${USER_FIELDS} } }`, {
                      plan: p.plan,
                    });
                    updateUser(data.updatePlan);
                    setError(null);
                  } catch (e) {
                    setError(e);
                  }
                }}
              >
                Switch to {p.plan}
              </button>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}

export function Settings() {
  const user = session()!.user;
  return (
    <Page title="Settings">
      <div class="panels">
        <Profile user={user} />
        <Password />
      </div>
      <Plans user={user} />
    </Page>
  );
}
