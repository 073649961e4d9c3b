// Administration (ADMIN only; the API refuses everyone else): system numbers that update
// while the page is open, every user's live runs, users, all jobs and all runs.

import { useEffect, useState } from "preact/hooks";
import { gql } from "../api";
import { subscribe } from "../live";
import { count, duration, percent, scheduleWords, when } from "../format";
import type { JobRow } from "../parts/job_actions";
import { FeedView, RUN_FIELDS, type Run, RunsTable, useFeed } from "../parts/runs";
import { Badge, Confirm, JOB_STATUSES, Page, Problem, StatusSelect, useDebounced, useQuery } from "../parts/ui";
import { Numbers } from "../parts/charts";

const RUN_STATUSES: [string, string][] = [
  ["SUCCESS", "Success"],
  ["FAILED", "Failed"],
  ["TIMEOUT", "Timed out"],
  ["RUNNING", "Running"],
  ["PENDING", "Pending"],
  ["SKIPPED", "Skipped"],
];

const TABS: [string, string][] = [
  ["/admin", "System"],
  ["/admin/users", "Users"],
  ["/admin/jobs", "All jobs"],
  ["/admin/logs", "All runs"],
];

function Tabs({ path }: { path: string }) {
  return (
    <nav class="tabs" aria-label="Administration">
      {TABS.map(([href, label]) => (
        <a key={href} href={href} aria-current={path === href ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

interface SystemStats {
  totalUsers: number;
  verifiedUsers: number;
  usersByPlan: { plan: string; count: number }[];
  totalJobs: number;
  activeJobs: number;
  totalExecutions: number;
  executionsLast24h: number;
  successRate: number;
  queueDepth: number;
  schedulerLagMs: number;
}

const STATS_FIELDS = `totalUsers verifiedUsers usersByPlan { plan count } totalJobs activeJobs totalExecutions
  executionsLast24h successRate queueDepth schedulerLagMs`;
const STATS = `adminStats { ${STATS_FIELDS} }`;

/** Queue depth and lag change by the second: the server pushes them every 5 s. */
function System() {
  const loaded = useQuery<{ adminStats: SystemStats }>(`query System { ${STATS} }`, {});
  const feed = useFeed(`query AllRecent { runs: adminLogs(first: 20) { edges { node { ${RUN_FIELDS} } } } }`, true);
  const [stats, setStats] = useState<SystemStats | null>(null);
  const [updated, setUpdated] = useState<number | null>(null);
  useEffect(
    () =>
      subscribe<{ adminStats: SystemStats }>(`subscription System { adminStats: systemStats(intervalSeconds: 5) { ${STATS_FIELDS} } }`, {}, (data) => {
        setStats(data.adminStats);
        setUpdated(Date.now());
      }),
    [],
  );
  const s = stats ?? loaded.data?.adminStats;
  return (
    <>
      <Problem error={loaded.error} />
      {s && (
        <>
          <Numbers
            items={[
              ["Queue depth", s.queueDepth],
              ["Scheduler lag", duration(s.schedulerLagMs)],
              ["Users", `${s.totalUsers} (${s.verifiedUsers} verified)`],
              ["Jobs", `${s.totalJobs} (${s.activeJobs} active)`],
              ["Runs, last 24 h", s.executionsLast24h],
              ["Success rate", percent(s.successRate)],
            ]}
          />
          <p class="muted" role="status">
            {s.usersByPlan.map((p) => `${p.count} ${p.plan}`).join(", ")}
            {updated && ` · updated ${new Date(updated).toLocaleTimeString()}`}
          </p>
        </>
      )}
      <FeedView title="Live runs of every user" feed={feed} />
    </>
  );
}

interface AdminUser {
  id: string;
  email: string;
  name: string;
  role: string;
  plan: string;
  emailVerified: boolean;
  createdAt: string;
  jobCount: number;
}

function Users() {
  const [search, setSearch] = useState("");
  const settled = useDebounced(search, 300);
  const loaded = useQuery<{ adminUsers: { totalCount: number; edges: { node: AdminUser }[] } }>(
    `query Users($search: String) { adminUsers(first: 50, search: $search) { totalCount
       edges { node { id email name role plan emailVerified createdAt jobCount } } } }`,
    { search: settled || null },
  );
  const [error, setError] = useState<unknown>(null);
  return (
    <>
      <div class="filters" role="search">
        <label>
          Search users
          <input type="search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} placeholder="Email or name" />
        </label>
        {loaded.data && <span class="muted">{count(loaded.data.adminUsers.totalCount, "user", "users")}</span>}
      </div>
      <Problem error={loaded.error || error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Users</caption>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Plan</th>
              <th scope="col">Jobs</th>
              <th scope="col">Joined</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {loaded.data?.adminUsers.edges.map(({ node: u }) => (
              <tr key={u.id}>
                <td>
                  {u.email} {!u.emailVerified && <span class="badge paused">unverified</span>}
                </td>
                <td>{u.name}</td>
                <td>
                  <select
                    aria-label={`Role of ${u.email}`}
                    value={u.role}
                    onChange={async (e) => {
                      try {
                        await gql(`mutation Role($id: ID!, $role: Role!) { updateUserRole(id: $id, role: $role) { id } }`, {
                          id: u.id,
                          role: (e.target as HTMLSelectElement).value,
                        });
                        setError(null);
                      } catch (err) {
                        setError(err);
                      }
                      loaded.reload();
                    }}
                  >
                    <option>USER</option>
                    <option>ADMIN</option>
                  </select>
                </td>
                <td>{u.plan}</td>
                <td>{u.jobCount}</td>
                <td>{when(u.createdAt)}</td>
                <td>
                  <Confirm
                    label="Delete"
                    name={`Delete ${u.email}`}
                    danger
                    question={`Delete ${u.email}, with all their jobs and runs?`}
                    confirm="Delete user"
                    onConfirm={async () => {
                      try {
                        await gql(`mutation DeleteUser($id: ID!) { deleteUser(id: $id) }`, { id: u.id });
                        setError(null);
                      } catch (err) {
                        setError(err);
                      }
                      loaded.reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

type AdminJob = Pick<JobRow, "id" | "name" | "cronExpression" | "timezone" | "runAt" | "status" | "lastStatus"> & {
  owner: { email: string };
};

function AllJobs() {
  const [status, setStatus] = useState("");
  const loaded = useQuery<{ adminJobs: { totalCount: number; edges: { node: AdminJob }[] } }>(
    `query AllJobs($status: JobStatus) { adminJobs(first: 100, status: $status) { totalCount
       edges { node { id name cronExpression timezone runAt status lastStatus owner { email } } } } }`,
    { status: status || null },
  );
  return (
    <>
      <div class="filters">
        <StatusSelect value={status} onChange={setStatus} statuses={JOB_STATUSES} />
        {loaded.data && <span class="muted">{count(loaded.data.adminJobs.totalCount, "job", "jobs")}</span>}
      </div>
      <Problem error={loaded.error} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Every user's jobs</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Owner</th>
              <th scope="col">Status</th>
              <th scope="col">Schedule</th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>
            {loaded.data?.adminJobs.edges.map(({ node: j }) => (
              <tr key={j.id}>
                <td>{j.name}</td>
                <td>{j.owner.email}</td>
                <td>
                  <Badge status={j.status} />
                </td>
                <td>{scheduleWords(j)}</td>
                <td>
                  <Badge status={j.lastStatus} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function AllRuns() {
  const [status, setStatus] = useState("");
  const loaded = useQuery<{ adminLogs: { edges: { node: Run }[] } }>(
    `query AllRuns($status: ExecutionStatus) { adminLogs(first: 50, status: $status) { edges { node { ${RUN_FIELDS} } } } }`,
    { status: status || null },
  );
  return (
    <>
      <div class="filters">
        <StatusSelect value={status} onChange={setStatus} statuses={RUN_STATUSES} />
      </div>
      <Problem error={loaded.error} />
      <RunsTable runs={loaded.data?.adminLogs.edges.map((e) => e.node) ?? []} caption="Every user's runs" showJob />
    </>
  );
}

export function Admin({ path }: { path: string }) {
  const title = TABS.find(([href]) => href === path)?.[1] ?? "System";
  return (
    <Page title={`Admin · ${title}`}>
      <Tabs path={path} />
      {path === "/admin/users" ? <Users /> : path === "/admin/jobs" ? <AllJobs /> : path === "/admin/logs" ? <AllRuns /> : <System />}
    </Page>
  );
}
