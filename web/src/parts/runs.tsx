// Runs: the table a job page and the feeds share, and the live merge of events into it.
// Events are buffered and applied a few times a second, so a hundred runs a second cost a
// handful of renders, and the list is capped, so an open page does not grow.

import { Fragment } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { gql } from "../api";
import { count, duration, when } from "../format";
import { subscribe } from "../live";
import { Badge, Problem, useQuery } from "./ui";

export const RUN_FIELDS =
  "id jobId jobName status trigger attempt scheduledFor late startedAt delayMs finishedAt durationMs httpStatus error";

export interface Run {
  id: string;
  jobId: string;
  jobName: string;
  status: string;
  trigger: string;
  attempt: number;
  scheduledFor: string;
  late: boolean;
  startedAt: string | null;
  delayMs: number | null;
  finishedAt: string | null;
  durationMs: number | null;
  httpStatus: number | null;
  error: string | null;
}

interface Event {
  executionEvents: { type: string; log: Run };
}

export interface Feed {
  runs: Run[];
  /** Runs that finished (succeeded or failed for good) since the page subscribed. */
  finished: number;
  failed: number;
}

const FINISHED = new Set(["SUCCEEDED", "FAILED"]);

export type RunEvent = Event["executionEvents"];

/**
 * Merges `logs` (oldest first, as they came) into `runs` (newest first): a new run goes
 * on top, a run already listed is replaced where it stands. At most `cap` are kept.
 */
export function mergeRuns<T extends { id: string }>(runs: T[], logs: T[], cap: number): T[] {
  const merged = [...runs];
  const at = new Map(merged.map((run, i) => [run.id, i]));
  const fresh: T[] = [];
  for (const log of logs) {
    const i = at.get(log.id);
    if (i === undefined) {
      at.set(log.id, -1 - fresh.length);
      fresh.push(log);
    } else if (i >= 0) {
      merged[i] = log;
    } else {
      fresh[-1 - i] = log;
    }
  }
  return [...fresh.reverse(), ...merged].slice(0, cap);
}

/**
 * The caller's run events (one job's, or every user's for an admin), handed over in
 * batches a few times a second, so a hundred runs a second cost a handful of renders.
 */
export function useRunEvents(variables: { jobId?: string; allUsers?: boolean }, onBatch: (events: RunEvent[]) => void) {
  const pending = useRef<RunEvent[]>([]);
  const handler = useRef(onBatch);
  handler.current = onBatch;
  const key = JSON.stringify(variables);
  useEffect(() => {
    const stop = subscribe<Event>(
      `subscription Runs($jobId: ID, $allUsers: Boolean) {
         executionEvents(jobId: $jobId, allUsers: $allUsers) { type log { ${RUN_FIELDS} } } }`,
      variables,
      (data) => pending.current.push(data.executionEvents),
    );
    const flush = setInterval(() => {
      const events = pending.current;
      if (!events.length) return;
      pending.current = [];
      handler.current(events);
    }, 250);
    return () => {
      stop();
      clearInterval(flush);
    };
  }, [key]);
}

/** Runs as they happen, merged into `initial` (newest first), at most `cap` kept. */
export function useLiveRuns(
  variables: { jobId?: string; allUsers?: boolean },
  initial: Run[] | null,
  cap: number,
): Feed {
  const [feed, setFeed] = useState<Feed>({ runs: [], finished: 0, failed: 0 });
  useEffect(() => {
    setFeed((f) => ({ ...f, runs: initial ?? [] }));
  }, [initial]);
  useRunEvents(variables, (events) =>
    setFeed((f) => ({
      runs: mergeRuns(
        f.runs,
        events.map((e) => e.log),
        cap,
      ),
      finished: f.finished + events.filter((e) => FINISHED.has(e.type)).length,
      failed: f.failed + events.filter((e) => e.type === "FAILED").length,
    })),
  );
  return feed;
}

interface Detail {
  executionLog: { responseBody: string | null; responseBodyTruncated: boolean; responseContentType: string | null };
}

/** A run's answer, fetched when the row is opened, shown as text (never as markup). */
function RunDetail({ run }: { run: Run }) {
  const [detail, setDetail] = useState<Detail["executionLog"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    gql<Detail>(
      `query Run($id: ID!) { executionLog(id: $id) { responseBody responseBodyTruncated responseContentType } }`,
      { id: run.id },
    ).then((d) => setDetail(d.executionLog), setError);
  }, [run.id, run.status]);
  return (
    <div class="run-detail">
      <dl>
        <dt>Slot</dt>
        <dd>{when(run.scheduledFor)}</dd>
        <dt>Started</dt>
        <dd>{when(run.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{when(run.finishedAt)}</dd>
        <dt>Trigger</dt>
        <dd>
          {run.trigger.toLowerCase()}, attempt {run.attempt}
        </dd>
      </dl>
      {run.error && (
        <p class="problem">
          <strong>Error:</strong> {run.error}
        </p>
      )}
      <Problem error={error} />
      {detail && (
        <>
          <h3>
            Response body {detail.responseContentType && <span class="muted">({detail.responseContentType})</span>}
            {detail.responseBodyTruncated && <span class="badge paused">truncated at 64 KiB</span>}
          </h3>
          {detail.responseBody ? <pre class="body">{detail.responseBody}</pre> : <p class="muted">Empty.</p>}
        </>
      )}
    </div>
  );
}

/** Runs in a table; a row opens to show its error and response body. */
export function RunsTable(props: { runs: Run[]; caption: string; showJob?: boolean; open?: string | null }) {
  const [open, setOpen] = useState<string | null>(props.open ?? null);
  const columns = props.showJob ? 8 : 7;
  return (
    <div class="table-wrap">
      <table class="runs">
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            {props.showJob && <th scope="col">Job</th>}
            <th scope="col">Status</th>
            <th scope="col">Slot</th>
            <th scope="col">Delay</th>
            <th scope="col">Duration</th>
            <th scope="col">HTTP</th>
            <th scope="col">Error</th>
            <th scope="col">
              <span class="sr-only">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.runs.length === 0 && (
            <tr>
              <td colSpan={columns} class="muted">
                No runs yet.
              </td>
            </tr>
          )}
          {props.runs.map((run) => (
            <Fragment key={run.id}>
              <tr data-run={run.id} data-status={run.status} class={open === run.id ? "open" : ""}>
                {props.showJob && (
                  <td>
                    <a href={`/jobs/${run.jobId}`}>{run.jobName}</a>
                  </td>
                )}
                <td>
                  <Badge status={run.status} />
                  {run.late && <span class="badge late">late</span>}
                </td>
                <td>{when(run.scheduledFor)}</td>
                <td>{duration(run.delayMs)}</td>
                <td>{duration(run.durationMs)}</td>
                <td>{run.httpStatus ?? "—"}</td>
                <td class="clip" title={run.error ?? ""}>
                  {run.error ?? ""}
                </td>
                <td>
                  <button
                    type="button"
                    class="link"
                    aria-expanded={open === run.id}
                    onClick={() => setOpen(open === run.id ? null : run.id)}
                  >
                    {open === run.id ? "Hide" : "Details"}
                  </button>
                </td>
              </tr>
              {open === run.id && (
                <tr class="detail-row">
                  <td colSpan={columns}>
                    <RunDetail run={run} />
                  </td>
                </tr>
              )}
            </Fragment>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A feed of runs as they happen, with what arrived since the page opened. */
export function FeedView({ title, feed }: { title: string; feed: Feed }) {
  return (
    <section class="feed" aria-labelledby="feed-title">
      <h2 id="feed-title">{title}</h2>
      <p class="muted" role="status" data-finished={feed.finished} data-failed={feed.failed}>
        {count(feed.finished, "run", "runs")} finished since you opened this page, {feed.failed.toLocaleString()} failed.
      </p>
      <RunsTable runs={feed.runs} caption={title} showJob />
    </section>
  );
}

/** The first page of runs, then every run as it happens. */
export function useFeed(query: string, allUsers: boolean): Feed {
  const loaded = useQuery<{ runs: { edges: { node: Run }[] } }>(query, {});
  const logs = loaded.data?.runs;
  const initial = useMemo(() => (logs ? logs.edges.map((e) => e.node) : null), [logs]);
  return useLiveRuns(allUsers ? { allUsers: true } : {}, initial, 100);
}
