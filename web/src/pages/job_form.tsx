// Create and edit a job. Each field shows the contract's error for it, and the schedule
// previews its next runs as it is typed (the server reckons them: H, L, W and time zones
// exactly as the scheduler will).

import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, fieldErrors, gql } from "../api";
import { scheduleWords, when } from "../format";
import { navigate } from "../router";
import { Field, Page, Problem, useDebounced, useQuery } from "../parts/ui";

interface Form {
  name: string;
  description: string;
  kind: "cron" | "once";
  cronExpression: string;
  runAt: string;
  timezone: string;
  targetUrl: string;
  httpMethod: string;
  headers: string;
  body: string;
  timeout: string;
  maxRetries: string;
  tags: string;
  startAt: string;
  endAt: string;
  maxRuns: string;
  jitterSeconds: string;
  overlapPolicy: string;
  catchUpPolicy: string;
}

const EMPTY: Form = {
  name: "",
  description: "",
  kind: "cron",
  cronExpression: "*/5 * * * *",
  runAt: "",
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC",
  targetUrl: "https://",
  httpMethod: "GET",
  headers: "",
  body: "",
  timeout: "10000",
  maxRetries: "0",
  tags: "",
  startAt: "",
  endAt: "",
  maxRuns: "",
  jitterSeconds: "0",
  overlapPolicy: "ALLOW",
  catchUpPolicy: "LATEST_ONCE",
};

const EDITABLE = `id name description cronExpression runAt timezone targetUrl httpMethod headers body timeout maxRetries tags
  startAt endAt maxRuns jitterSeconds overlapPolicy catchUpPolicy`;

interface Stored {
  id: string;
  name: string;
  description: string | null;
  cronExpression: string;
  runAt: string | null;
  timezone: string;
  targetUrl: string;
  httpMethod: string;
  headers: Record<string, string> | null;
  body: string | null;
  timeout: number;
  maxRetries: number;
  tags: string[];
  startAt: string | null;
  endAt: string | null;
  maxRuns: number | null;
  jitterSeconds: number;
  overlapPolicy: string;
  catchUpPolicy: string;
}

/** `datetime-local` speaks local time without a zone; the API speaks UTC instants. */
function localInput(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromStored(job: Stored): Form {
  return {
    name: job.name,
    description: job.description ?? "",
    kind: job.runAt ? "once" : "cron",
    cronExpression: job.runAt ? EMPTY.cronExpression : job.cronExpression,
    runAt: job.runAt ? localInput(job.runAt) : "",
    timezone: job.timezone,
    targetUrl: job.targetUrl,
    httpMethod: job.httpMethod,
    headers: job.headers && Object.keys(job.headers).length ? JSON.stringify(job.headers, null, 2) : "",
    body: job.body ?? "",
    timeout: String(job.timeout),
    maxRetries: String(job.maxRetries),
    tags: job.tags.join(", "),
    startAt: job.startAt ? localInput(job.startAt) : "",
    endAt: job.endAt ? localInput(job.endAt) : "",
    maxRuns: job.maxRuns === null ? "" : String(job.maxRuns),
    jitterSeconds: String(job.jitterSeconds),
    overlapPolicy: job.overlapPolicy,
    catchUpPolicy: job.catchUpPolicy,
  };
}

/** The input the API takes, or the fields the browser can already tell are wrong. */
function toInput(form: Form): { input: Record<string, unknown> } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  let headers: unknown = null;
  if (form.headers.trim()) {
    try {
      headers = JSON.parse(form.headers);
    } catch {
      errors.headers = "Headers must be a JSON object, such as {\"Accept\": \"application/json\"}.";
    }
  }
  const number = (name: "timeout" | "maxRetries" | "jitterSeconds" | "maxRuns") => {
    const n = Number(form[name]);
    if (!Number.isInteger(n)) errors[name] = "Must be a whole number.";
    return n;
  };
  const instant = (value: string) => (value ? new Date(value).toISOString() : null);
  const input: Record<string, unknown> = {
    name: form.name,
    description: form.description || null,
    timezone: form.timezone,
    targetUrl: form.targetUrl,
    httpMethod: form.httpMethod,
    headers,
    body: form.body || null,
    timeout: number("timeout"),
    maxRetries: number("maxRetries"),
    jitterSeconds: number("jitterSeconds"),
    overlapPolicy: form.overlapPolicy,
    catchUpPolicy: form.catchUpPolicy,
    tags: form.tags
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
  };
  if (form.kind === "once") {
    if (!form.runAt) errors.runAt = "Choose when it runs.";
    else input.runAt = new Date(form.runAt).toISOString();
    input.startAt = null;
    input.endAt = null;
    input.maxRuns = null;
  } else {
    input.cronExpression = form.cronExpression;
    input.startAt = instant(form.startAt);
    input.endAt = instant(form.endAt);
    input.maxRuns = form.maxRuns.trim() ? number("maxRuns") : null;
  }
  return Object.keys(errors).length ? { errors } : { input };
}

/** The fields folded under "Window, jitter and policies", opened when one is wrong. */
const MORE = ["startAt", "endAt", "maxRuns", "jitterSeconds", "overlapPolicy", "catchUpPolicy"];

const ZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
})();

/** The next runs of what is typed, or the server's reason it is not a schedule. */
function usePreview(form: Form, jobId?: string) {
  const settled = useDebounced(JSON.stringify([form.cronExpression, form.timezone]), 350);
  const [cron, tz] = JSON.parse(settled) as [string, string];
  return useQuery<{ nextRuns: string[] }>(
    `query Preview($cron: String!, $tz: String, $jobId: ID) { nextRuns(cronExpression: $cron, timezone: $tz, count: 5, jobId: $jobId) }`,
    { cron, tz, jobId: jobId ?? null },
    form.kind !== "cron" || !cron.trim(),
  );
}

export function JobForm({ id }: { id?: string }) {
  const stored = useQuery<{ job: Stored }>(`query Edit($id: ID!) { job(id: $id) { ${EDITABLE} } }`, { id }, !id);
  const [form, setForm] = useState<Form>(EMPTY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [local, setLocal] = useState<Record<string, string>>({});
  useEffect(() => {
    if (stored.data) setForm(fromStored(stored.data.job));
  }, [stored.data]);
  const preview = usePreview(form, id);
  const previewErrors = fieldErrors(preview.error);
  const errors = { ...fieldErrors(error), ...local };
  const cronError =
    errors.cronExpression ?? (form.kind === "cron" ? previewErrors.cronExpression : undefined);
  const zoneError = errors.timezone ?? previewErrors.timezone;
  const general = error && !(error instanceof ApiError && error.field) ? error : null;
  const words = useMemo(
    () => (form.kind === "cron" && !cronError ? scheduleWords({ cronExpression: form.cronExpression, timezone: form.timezone }) : ""),
    [form.cronExpression, form.timezone, form.kind, cronError],
  );

  const bind = (name: keyof Form) => ({
    name,
    value: form[name],
    onInput: (e: Event) => setForm((f) => ({ ...f, [name]: (e.target as HTMLInputElement).value })),
  });

  const submit = async (event: Event) => {
    event.preventDefault();
    const built = toInput(form);
    if ("errors" in built) {
      setLocal(built.errors);
      setError(null);
      return;
    }
    setLocal({});
    setBusy(true);
    setError(null);
    try {
      const saved = id
        ? (await gql<{ updateJob: { id: string } }>(`mutation Update($id: ID!, $input: UpdateJobInput!) { updateJob(id: $id, input: $input) { id } }`, { id, input: built.input })).updateJob
        : (await gql<{ createJob: { id: string } }>(`mutation Create($input: CreateJobInput!) { createJob(input: $input) { id } }`, { input: built.input })).createJob;
      navigate(`/jobs/${saved.id}`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (id && !stored.data) {
    return (
      <Page title="Edit job">
        <Problem error={stored.error} />
        {!stored.error && <p class="loading">Loading…</p>}
      </Page>
    );
  }

  return (
    <Page title={id ? `Edit ${stored.data?.job.name}` : "New job"}>
      <form class="job-form" onSubmit={submit} noValidate>
        <fieldset>
          <legend>What</legend>
          <Field label="Name" error={errors.name}>
            {(p) => <input {...p} {...bind("name")} required maxLength={255} />}
          </Field>
          <Field label="Description" error={errors.description}>
            {(p) => <input {...p} {...bind("description")} />}
          </Field>
          <Field label="Tags" error={errors.tags} hint="Separated by commas.">
            {(p) => <input {...p} {...bind("tags")} />}
          </Field>
        </fieldset>
        <fieldset>
          <legend>When</legend>
          <div class="choice" role="radiogroup" aria-label="Schedule kind">
            <label>
              <input type="radio" name="kind" checked={form.kind === "cron"} onChange={() => setForm((f) => ({ ...f, kind: "cron" }))} />{" "}
              On a cron schedule
            </label>
            <label>
              <input type="radio" name="kind" checked={form.kind === "once"} onChange={() => setForm((f) => ({ ...f, kind: "once" }))} />{" "}
              Once
            </label>
          </div>
          {form.kind === "cron" ? (
            <Field
              label="Cron expression"
              error={cronError}
              hint={
                words ? (
                  <span>
                    {words}. <span class="muted">5 fields, or 6 with seconds first; H spreads jobs.</span>
                  </span>
                ) : (
                  "5 fields (minute hour day month weekday), or 6 with seconds first."
                )
              }
            >
              {(p) => <input {...p} {...bind("cronExpression")} class="mono" spellcheck={false} autocomplete="off" required />}
            </Field>
          ) : (
            <Field label="Run at" error={errors.runAt}>
              {(p) => <input {...p} {...bind("runAt")} type="datetime-local" required />}
            </Field>
          )}
          <Field label="Time zone" error={zoneError}>
            {(p) => (
              <>
                <input {...p} {...bind("timezone")} list="zones" autocomplete="off" />
                <datalist id="zones">
                  {ZONES.map((z) => (
                    <option key={z} value={z} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
          {form.kind === "cron" && (
            <div class="preview" aria-live="polite">
              <h2>Next runs</h2>
              {preview.data && !cronError && !zoneError ? (
                <ol>
                  {preview.data.nextRuns.map((t) => (
                    <li key={t}>
                      <time dateTime={t}>{when(t)}</time>
                    </li>
                  ))}
                </ol>
              ) : (
                <p class="muted">{cronError || zoneError ? "Fix the schedule to see its runs." : "…"}</p>
              )}
            </div>
          )}
        </fieldset>
        <fieldset>
          <legend>Request</legend>
          <Field label="URL" error={errors.targetUrl} hint="Secrets go in as {{secrets.NAME}}.">
            {(p) => <input {...p} {...bind("targetUrl")} type="url" required class="mono" />}
          </Field>
          <Field label="Method" error={errors.httpMethod}>
            {(p) => (
              <select {...p} {...bind("httpMethod")}>
                {["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Headers (JSON)" error={errors.headers}>
            {(p) => <textarea {...p} {...bind("headers")} rows={3} class="mono" spellcheck={false} />}
          </Field>
          <Field label="Body" error={errors.body}>
            {(p) => <textarea {...p} {...bind("body")} rows={3} class="mono" spellcheck={false} />}
          </Field>
          <div class="pair">
            <Field label="Timeout (ms)" error={errors.timeout}>
              {(p) => <input {...p} {...bind("timeout")} type="number" min={1} />}
            </Field>
            <Field label="Retries" error={errors.maxRetries}>
              {(p) => <input {...p} {...bind("maxRetries")} type="number" min={0} />}
            </Field>
          </div>
        </fieldset>
        <details class="more" open={Object.keys(errors).some((f) => MORE.includes(f))}>
          <summary>Window, jitter and policies</summary>
          {form.kind === "cron" && (
            <div class="pair">
              <Field label="Not before" error={errors.startAt}>
                {(p) => <input {...p} {...bind("startAt")} type="datetime-local" />}
              </Field>
              <Field label="Not after" error={errors.endAt}>
                {(p) => <input {...p} {...bind("endAt")} type="datetime-local" />}
              </Field>
              <Field label="At most this many runs" error={errors.maxRuns} hint="Empty: no limit.">
                {(p) => <input {...p} {...bind("maxRuns")} type="number" min={1} />}
              </Field>
            </div>
          )}
          <Field label="Jitter (seconds)" error={errors.jitterSeconds} hint="A delay of up to this much, the same for a slot on every instance.">
            {(p) => <input {...p} {...bind("jitterSeconds")} type="number" min={0} />}
          </Field>
          <Field label="When a run is still going at the next slot" error={errors.overlapPolicy}>
            {(p) => (
              <select {...p} {...bind("overlapPolicy")}>
                <option value="ALLOW">Run anyway</option>
                <option value="SKIP">Skip the new run</option>
                <option value="BUFFER_ONE">Queue one, run it after</option>
              </select>
            )}
          </Field>
          <Field label="Slots missed while CronOps was down" error={errors.catchUpPolicy}>
            {(p) => (
              <select {...p} {...bind("catchUpPolicy")}>
                <option value="LATEST_ONCE">Run the latest once</option>
                <option value="SKIP">Skip them</option>
                <option value="ALL">Run them all</option>
              </select>
            )}
          </Field>
        </details>
        <Problem error={general} />
        <div class="actions">
          <button class="primary" disabled={busy}>
            {id ? "Save changes" : "Create job"}
          </button>
          <a class="button" href={id ? `/jobs/${id}` : "/jobs"}>
            Cancel
          </a>
        </div>
      </form>
    </Page>
  );
}
