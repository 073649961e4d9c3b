// The dashboard's building blocks: data loading, labelled fields with their errors,
// confirmation, status badges, run strips.

import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, describe, fieldErrors, gql } from "../api";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (update: (data: T) => T) => void;
}

/** Runs `query` when its variables change; keeps the last answer while reloading. */
export function useQuery<T>(query: string, variables: object, skip = false): Loaded<T> {
  const key = JSON.stringify(variables);
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: !skip,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (skip) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    gql<T>(query, variables).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [query, key, tick, skip]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const set = useCallback(
    (update: (data: T) => T) => setState((s) => (s.data ? { ...s, data: update(s.data) } : s)),
    [],
  );
  return { ...state, reload, set };
}

/**
 * A form's values, a busy flag, and the last error of its action: by field (for the
 * messages next to each) and otherwise (for the one above the button).
 */
export function useForm<T extends Record<string, string>>(initial: T) {
  const [values, setValues] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const bind = (name: keyof T & string) => ({
    name,
    value: values[name],
    onInput: (e: Event) => setValues((v) => ({ ...v, [name]: (e.target as HTMLInputElement).value })),
  });
  const submit = (action: () => Promise<void>) => async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await action();
      setDone(true);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const fields = fieldErrors(error);
  const general = error && !(error instanceof ApiError && error.field) ? error : null;
  return { values, setValues, bind, busy, error, fields, general, submit, done };
}

/** A select of job statuses, "Any" first. */
export function StatusSelect(props: { value: string; onChange: (value: string) => void; statuses: [string, string][] }) {
  return (
    <label>
      Status
      <select value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="">Any</option>
        {props.statuses.map(([value, words]) => (
          <option key={value} value={value}>
            {words}
          </option>
        ))}
      </select>
    </label>
  );
}

export const JOB_STATUSES: [string, string][] = [
  ["ACTIVE", "Active"],
  ["PAUSED", "Paused"],
  ["COMPLETED", "Completed"],
];

/** Waits `ms` after the last change of `value`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

let ids = 0;
export function useId(prefix: string): string {
  const id = useRef(`${prefix}-${++ids}`);
  return id.current;
}

interface FieldProps {
  label: string;
  error?: string;
  hint?: ComponentChildren;
  children: (props: { id: string; "aria-invalid": boolean; "aria-describedby"?: string }) => JSX.Element;
}

/** A label, its control, a hint and the error the server gave for this field. */
export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId("field");
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      {children({ id, "aria-invalid": Boolean(error), "aria-describedby": described || undefined })}
      {hint && (
        <div class="hint" id={`${id}-hint`}>
          {hint}
        </div>
      )}
      {error && (
        <div class="error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

export function Problem({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="problem" role="alert">
      {describe(error)}
    </p>
  );
}

/** A button that asks first, in a modal dialog (focus stays inside; Escape cancels). */
export function Confirm(props: {
  label: string;
  /** The button's accessible name, when its label alone is ambiguous ("Delete"). */
  name?: string;
  question: string;
  confirm: string;
  danger?: boolean;
  onConfirm: () => void | Promise<void>;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  return (
    <>
      <button type="button" class={props.danger ? "danger" : ""} aria-label={props.name} onClick={() => dialog.current?.showModal()}>
        {props.label}
      </button>
      <dialog ref={dialog} aria-label={props.question}>
        <form method="dialog">
          <p>{props.question}</p>
          <div class="actions">
            <button value="cancel" autofocus>
              Cancel
            </button>
            <button
              value="confirm"
              class={props.danger ? "danger" : "primary"}
              onClick={(event) => {
                event.preventDefault();
                dialog.current?.close();
                void props.onConfirm();
              }}
            >
              {props.confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

const STATUS_WORDS: Record<string, string> = {
  ACTIVE: "Active",
  PAUSED: "Paused",
  COMPLETED: "Completed",
  PENDING: "Pending",
  RUNNING: "Running",
  SUCCESS: "Success",
  FAILED: "Failed",
  TIMEOUT: "Timed out",
  SKIPPED: "Skipped",
};

export function Badge({ status }: { status: string | null | undefined }) {
  if (!status) return <span class="muted">—</span>;
  return <span class={`badge ${status.toLowerCase()}`}>{STATUS_WORDS[status] ?? status}</span>;
}

/** The outcomes of a job's last runs, oldest first, as a row of coloured marks. */
export function Strip({ runs }: { runs: { status: string; scheduledFor: string }[] }) {
  const ordered = [...runs].reverse();
  const failed = ordered.filter((r) => r.status === "FAILED" || r.status === "TIMEOUT").length;
  return (
    <span class="strip" role="img" aria-label={`Last ${ordered.length} runs: ${failed} failed`}>
      {ordered.map((run) => (
        <span class={`mark ${run.status.toLowerCase()}`} title={`${STATUS_WORDS[run.status]}, ${run.scheduledFor}`} />
      ))}
    </span>
  );
}

/** Ticks every `ms`, for relative times that must stay true. */
export function useNow(ms = 10_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · CronOps`;
  }, [props.title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title" tabIndex={-1}>
          {props.title}
        </h1>
        {props.actions && <div class="actions">{props.actions}</div>}
      </header>
      {props.children}
    </section>
  );
}
