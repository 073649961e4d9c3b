// A job's row as lists and pages read it, and the actions on it: pause, resume, run now,
// delete (after a confirmation).

import { gql } from "../api";
import { type RunEvent, mergeRuns } from "./runs";
import { Confirm } from "./ui";

export const JOB_ROW = `id name cronExpression timezone runAt status nextRunAt lastRunAt lastStatus
  logs(first: 20) { edges { node { id status scheduledFor } } }`;

export interface JobRow {
  id: string;
  name: string;
  cronExpression: string;
  timezone: string;
  runAt: string | null;
  status: string;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastStatus: string | null;
  logs: { edges: { node: { id: string; status: string; scheduledFor: string } }[] };
}

/** Pause, resume, run now and delete, for a row or a job's page. */
/** `row` with what `events` say of its runs: its strip, and its last finished run. */
export function withEvents(row: JobRow, events: RunEvent[]): JobRow {
  const mine = events.filter((e) => e.log.jobId === row.id).map((e) => e.log);
  if (mine.length === 0) return row;
  const strip = mergeRuns(
    row.logs.edges.map((e) => e.node),
    mine.map(({ id, status, scheduledFor }) => ({ id, status, scheduledFor })),
    20,
  );
  const done = mine.filter((log) => log.finishedAt).pop();
  return {
    ...row,
    logs: { edges: strip.map((node) => ({ node })) },
    ...(done ? { lastStatus: done.status, lastRunAt: done.finishedAt } : {}),
  };
}

export function JobActions(props: { job: { id: string; name: string; status: string }; onChange: (job: JobRow | null) => void; onError: (e: unknown) => void }) {
  const act = (query: string) => async () => {
    try {
      const data = await gql<Record<string, JobRow>>(query, { id: props.job.id });
      props.onChange(Object.values(data)[0]);
    } catch (e) {
      props.onError(e);
    }
  };
  return (
    <span class="row-actions">
      {props.job.status === "ACTIVE" ? (
        <button type="button" aria-label={`Pause ${props.job.name}`} onClick={act(`mutation Pause($id: ID!) { pauseJob(id: $id) { ${JOB_ROW} } }`)}>
          Pause
        </button>
      ) : (
        <button type="button" aria-label={`Resume ${props.job.name}`} onClick={act(`mutation Resume($id: ID!) { resumeJob(id: $id) { ${JOB_ROW} } }`)}>
          Resume
        </button>
      )}
      <button
        type="button"
        aria-label={`Run now: ${props.job.name}`}
        onClick={async () => {
          try {
            await gql(`mutation Run($id: ID!) { runJob(id: $id) { id } }`, { id: props.job.id });
          } catch (e) {
            props.onError(e);
          }
        }}
      >
        Run now
      </button>
      <Confirm
        label="Delete"
        name={`Delete ${props.job.name}`}
        danger
        question={`Delete “${props.job.name}” and all its runs? This cannot be undone.`}
        confirm="Delete job"
        onConfirm={async () => {
          try {
            await gql(`mutation Delete($id: ID!) { deleteJob(id: $id) }`, { id: props.job.id });
            props.onChange(null);
          } catch (e) {
            props.onError(e);
          }
        }}
      />
    </span>
  );
}

