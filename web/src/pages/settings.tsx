// The account: name, password and plan.

import { useState } from "preact/hooks";
import { USER_FIELDS, gql, session, updateUser, type User } from "../api";
import { Field, Page, Problem, useForm, useQuery } from "../parts/ui";

interface PlanInfo {
  plan: string;
  maxJobs: number;
  minIntervalSeconds: number;
  maxTimeoutMs: number;
  maxRetries: number;
  logRetentionDays: number;
}

function Profile({ user }: { user: User }) {
  const form = useForm({ name: user.name });
  return (
    <form
      class="panel"
      onSubmit={form.submit(async () => {
        const data = await gql<{ updateProfile: User }>(
          `mutation Profile($input: UpdateProfileInput!) { updateProfile(input: $input) { ${USER_FIELDS} } }`,
          { input: form.values },
        );
        updateUser(data.updateProfile);
      })}
    >
      <h2>Profile</h2>
      <p class="muted">{user.email}</p>
      <Field label="Name" error={form.fields.name}>
        {(p) => <input {...p} {...form.bind("name")} autocomplete="name" />}
      </Field>
      <Problem error={form.general} />
      {form.done && <p role="status">Saved.</p>}
      <button class="primary" disabled={form.busy}>
        Save name
      </button>
    </form>
  );
}

function Password() {
  const form = useForm({ currentPassword: "", newPassword: "" });
  return (
    <form
      class="panel"
      onSubmit={form.submit(async () => {
        await gql(
          `mutation Password($currentPassword: String!, $newPassword: String!) {
             changePassword(currentPassword: $currentPassword, newPassword: $newPassword) }`,
          form.values,
        );
        form.setValues({ currentPassword: "", newPassword: "" });
      })}
    >
      <h2>Password</h2>
      <Field label="Current password" error={form.fields.currentPassword}>
        {(p) => <input {...p} {...form.bind("currentPassword")} type="password" autocomplete="current-password" />}
      </Field>
      <Field label="New password" error={form.fields.newPassword}>
        {(p) => <input {...p} {...form.bind("newPassword")} type="password" autocomplete="new-password" />}
      </Field>
      <Problem error={form.general} />
      {form.done && <p role="status">Password changed. Your other sessions have ended.</p>}
      <button class="primary" disabled={form.busy}>
        Change password
      </button>
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
