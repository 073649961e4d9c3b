// The jobs list: status, schedule in words, next run, last status and a strip of the last
// 20 runs; search, a status filter, row actions, and the plan's usage.

import { useEffect, useState } from "preact/hooks";
import { gql } from "../api";
import { count, fromNow, scheduleWords } from "../format";
import { JOB_ROW, JobActions, type JobRow, withEvents } from "../parts/job_actions";
import { useRunEvents } from "../parts/runs";
import { Badge, JOB_STATUSES, Page, Problem, StatusSelect, Strip, useDebounced, useNow, useQuery } from "../parts/ui";

const PAGE = 50;

interface JobsData {
  me: { plan: string };
  plans: { plan: string; maxJobs: number }[];
  active: { totalCount: number };
  paused: { totalCount: number };
  jobs: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: JobRow }[] };
}

const QUERY = `query Jobs($first: Int, $after: String, $status: JobStatus, $search: String) {
  me { plan }
  plans { plan maxJobs }
  active: jobs(first: 1, status: ACTIVE) { totalCount }
  paused: jobs(first: 1, status: PAUSED) { totalCount }
  jobs(first: $first, after: $after, status: $status, search: $search) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { ${JOB_ROW} } } } }`;

export function Jobs() {
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState("");
  const settled = useDebounced(search, 300);
  const variables = { first: PAGE, search: settled || null, status: status || null };
  const loaded = useQuery<JobsData>(QUERY, variables);
  const [more, setMore] = useState<JobRow[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [paging, setPaging] = useState(false);
  const now = useNow();
  // A new first page (another search, filter or a reload) starts the list again; changes
  // made in place (actions, live runs) keep its page info, and the pages shown after it.
  const firstPage = loaded.data?.jobs.pageInfo;
  useEffect(() => {
    setMore([]);
    setCursor(firstPage?.hasNextPage ? firstPage.endCursor : null);
  }, [firstPage]);
  useEffect(() => {
    if (loaded.data) performance.mark("cronops:jobs-shown");
  }, [loaded.data !== null]);

  const data = loaded.data;
  const rows = [...(data?.jobs.edges.map((e) => e.node) ?? []), ...more];
  const limit = data?.plans.find((p) => p.plan === data.me.plan)?.maxJobs;
  const used = data ? data.active.totalCount + data.paused.totalCount : 0;
  // The strips and last statuses follow the runs as they finish.
  useRunEvents({}, (events) => {
    loaded.set((d) => ({ ...d, jobs: { ...d.jobs, edges: d.jobs.edges.map((e) => ({ node: withEvents(e.node, events) })) } }));
    setMore((m) => m.map((row) => withEvents(row, events)));
  });
  const replace = (id: string) => (job: JobRow | null) => {
    setActionError(null);
    loaded.set((d) => ({
      ...d,
      jobs: {
        ...d.jobs,
        edges: d.jobs.edges.flatMap((e) => (e.node.id === id ? (job ? [{ node: job }] : []) : [e])),
      },
    }));
    setMore((m) => m.flatMap((row) => (row.id === id ? (job ? [job] : []) : [row])));
  };

  // One page at a time: a second click while one loads would ask for the same page again.
  const showMore = async () => {
    setPaging(true);
    try {
      const page = await gql<JobsData>(QUERY, { ...variables, after: cursor });
      setMore((m) => {
        const have = new Set(m.map((row) => row.id));
        return [...m, ...page.jobs.edges.map((e) => e.node).filter((row) => !have.has(row.id))];
      });
      setCursor(page.jobs.pageInfo.hasNextPage ? page.jobs.pageInfo.endCursor : null);
    } catch (e) {
      setActionError(e);
    } finally {
      setPaging(false);
    }
  };

  return (
    <Page
      title="Jobs"
      actions={
        <a class="button primary" href="/jobs/new">
          New job
        </a>
      }
    >
      {data && (
        <p class="usage">
          <strong>
            {used} of {limit ?? "?"} jobs
          </strong>{" "}
          on the {data.me.plan} plan{" "}
          {data.me.plan !== "PRO" && (
            <a href="/settings#plan" class="upgrade">
              Upgrade
            </a>
          )}
        </p>
      )}
      <div class="filters" role="search">
        <label>
          Search
          <input type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} placeholder="Job name" />
        </label>
        <StatusSelect value={status} onChange={setStatus} statuses={JOB_STATUSES} />
        {data && (
          <span class="muted" role="status">
            {count(data.jobs.totalCount, "job", "jobs")}
          </span>
        )}
      </div>
      <Problem error={loaded.error || actionError} />
      {!data && loaded.loading && <p class="loading">Loading jobs…</p>}
      {data && (
        <div class="table-wrap">
          <table class="jobs">
            <caption class="sr-only">Your jobs</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Schedule</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col">Last 20 runs</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={7} class="muted">
                    {settled || status ? "No job matches." : "No jobs yet. Create one to start."}
                  </td>
                </tr>
              )}
              {rows.map((job) => (
                <tr key={job.id} data-job={job.id}>
                  <td>
                    <a href={`/jobs/${job.id}`}>{job.name}</a>
                  </td>
                  <td>
                    <Badge status={job.status} />
                  </td>
                  <td>{scheduleWords(job)}</td>
                  <td title={job.nextRunAt ?? ""}>{job.status === "ACTIVE" ? fromNow(job.nextRunAt, now) : "—"}</td>
                  <td>
                    <Badge status={job.lastStatus} />
                  </td>
                  <td>
                    <Strip runs={job.logs.edges.map((e) => e.node)} />
                  </td>
                  <td>
                    <JobActions job={job} onChange={replace(job.id)} onError={setActionError} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" disabled={paging} onClick={showMore}>
          Show more jobs
        </button>
      )}
    </Page>
  );
}
