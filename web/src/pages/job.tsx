// One job: what it is, its runs (paged), new runs arriving live and running runs turning
// into their results in place.

import { useMemo, useState } from "preact/hooks";
import { gql } from "../api";
import { fromNow, scheduleWords, when } from "../format";
import { navigate } from "../router";
import { RUN_FIELDS, type Run, RunsTable, useLiveRuns } from "../parts/runs";
import { Badge, Page, Problem, useNow, useQuery } from "../parts/ui";
import { JOB_ROW, JobActions, type JobRow } from "../parts/job_actions";

interface JobData {
  job: JobRow & {
    description: string | null;
    targetUrl: string;
    httpMethod: string;
    timeout: number;
    maxRetries: number;
    tags: string[];
    pauseNote: string | null;
    pausedReason: string | null;
    runsLeft: number | null;
  };
  executionLogs: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: Run }[] };
}

const QUERY = `query Job($id: ID!) {
  job(id: $id) { ${JOB_ROW} description targetUrl httpMethod timeout maxRetries tags pauseNote pausedReason runsLeft }
  executionLogs(jobId: $id, first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { node { ${RUN_FIELDS} } } } }`;

export function JobPage({ id, openRun }: { id: string; openRun: string | null }) {
  const loaded = useQuery<JobData>(QUERY, { id });
  const logs = loaded.data?.executionLogs;
  // The first page, kept while the job itself changes (pause, resume) so live runs stay.
  const initial = useMemo(() => (logs ? logs.edges.map((e) => e.node) : null), [logs]);
  const feed = useLiveRuns({ jobId: id }, initial, 500);
  const [older, setOlder] = useState<Run[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const now = useNow();

  const job = loaded.data?.job;
  if (!job) {
    return (
      <Page title="Job">
        <Problem error={loaded.error} />
        {!loaded.error && <p class="loading">Loading…</p>}
      </Page>
    );
  }
  const next = cursor === undefined ? (loaded.data!.executionLogs.pageInfo.hasNextPage ? loaded.data!.executionLogs.pageInfo.endCursor : null) : cursor;
  const shown = new Set(feed.runs.map((r) => r.id));
  const runs = [...feed.runs, ...older.filter((r) => !shown.has(r.id))];

  return (
    <Page
      title={job.name}
      actions={
        <>
          <a class="button" href={`/jobs/${id}/edit`}>
            Edit
          </a>
          <JobActions
            job={job}
            onError={setError}
            onChange={(changed) => {
              setError(null);
              if (!changed) navigate("/jobs");
              else loaded.set((d) => ({ ...d, job: { ...d.job, ...changed } }));
            }}
          />
        </>
      }
    >
      <Problem error={error} />
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <Badge status={job.status} />
            {job.pauseNote && <span class="muted"> “{job.pauseNote}”</span>}
            {job.pausedReason && <span class="muted"> {job.pausedReason}</span>}
          </dd>
        </div>
        <div>
          <dt>Schedule</dt>
          <dd>
            {scheduleWords(job)} <code>{job.runAt ? "@once" : job.cronExpression}</code>
          </dd>
        </div>
        <div>
          <dt>Next run</dt>
          <dd title={when(job.nextRunAt)}>{job.status === "ACTIVE" ? fromNow(job.nextRunAt, now) : "—"}</dd>
        </div>
        <div>
          <dt>Request</dt>
          <dd>
            <code>
              {job.httpMethod} {job.targetUrl}
            </code>
          </dd>
        </div>
        <div>
          <dt>Timeout, retries</dt>
          <dd>
            {job.timeout} ms, {job.maxRetries}
          </dd>
        </div>
        {job.runsLeft !== null && (
          <div>
            <dt>Runs left</dt>
            <dd>{job.runsLeft}</dd>
          </div>
        )}
        {job.tags.length > 0 && (
          <div>
            <dt>Tags</dt>
            <dd>{job.tags.join(", ")}</dd>
          </div>
        )}
      </dl>
      {job.description && <p>{job.description}</p>}
      <h2>
        Runs <span class="muted">({loaded.data!.executionLogs.totalCount + feed.runs.filter((r) => !initial?.some((i) => i.id === r.id)).length})</span>
      </h2>
      <RunsTable runs={runs} caption={`Runs of ${job.name}`} open={openRun} />
      {next && (
        <button
          type="button"
          onClick={async () => {
            try {
              const page = await gql<Pick<JobData, "executionLogs">>(
                `query Older($id: ID!, $after: String) { executionLogs(jobId: $id, first: 20, after: $after) {
                   pageInfo { hasNextPage endCursor } edges { node { ${RUN_FIELDS} } } } }`,
                { id, after: next },
              );
              setOlder((o) => [...o, ...page.executionLogs.edges.map((e) => e.node)]);
              setCursor(page.executionLogs.pageInfo.hasNextPage ? page.executionLogs.pageInfo.endCursor : null);
            } catch (e) {
              setError(e);
            }
          }}
        >
          Older runs
        </button>
      )}
    </Page>
  );
}
