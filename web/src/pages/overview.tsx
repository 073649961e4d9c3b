// The overview: the user's numbers, the analytics as charts, and a live feed of every run.

import { useEffect, useRef, useState } from "preact/hooks";
import { duration, fromNow, percent } from "../format";
import { DailyTrend, Hourly, Numbers, Percentiles, Rate, TopFailing } from "../parts/charts";
import { FeedView, RUN_FIELDS, useFeed } from "../parts/runs";
import { Page, Problem, useNow, useQuery } from "../parts/ui";

const ANALYTICS = `successRate dailyTrend { date total success failed } hourlyDistribution { hour count }
  durationPercentiles { p50 p95 p99 } topFailingJobs { job { id name } failures }`;

interface AnalyticsData {
  successRate: number;
  dailyTrend: { date: string; total: number; success: number; failed: number }[];
  hourlyDistribution: { hour: number; count: number }[];
  durationPercentiles: { p50: number | null; p95: number | null; p99: number | null };
  topFailingJobs: { job: { id: string; name: string }; failures: number }[];
}

interface OverviewData {
  stats: {
    totalJobs: number;
    activeJobs: number;
    pausedJobs: number;
    totalExecutions: number;
    successRate: number;
    avgDurationMs: number | null;
    executionsLast24h: number;
    upcomingRuns: { job: { id: string; name: string }; nextRunAt: string }[];
  };
  analytics: AnalyticsData;
}

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function Charts({ a }: { a: AnalyticsData }) {
  return (
    <div class="charts">
      <DailyTrend days={a.dailyTrend} />
      <Rate rate={a.successRate} />
      <Hourly hours={a.hourlyDistribution} />
      <Percentiles p={a.durationPercentiles} />
      <TopFailing jobs={a.topFailingJobs} />
    </div>
  );
}

/** Reloads once `changes` moves (runs finished), at most every `ms`, so the numbers follow the feed. */
export function useFollow(changes: number, reload: () => void, ms: number) {
  const pending = useRef<number | null>(null);
  const last = useRef(Date.now());
  useEffect(() => {
    if (changes === 0 || pending.current !== null) return;
    const wait = Math.max(0, last.current + ms - Date.now());
    pending.current = window.setTimeout(() => {
      pending.current = null;
      last.current = Date.now();
      reload();
    }, wait);
  }, [changes]);
  useEffect(
    () => () => {
      if (pending.current !== null) clearTimeout(pending.current);
    },
    [],
  );
}

export function Overview() {
  const [days, setDays] = useState(7);
  const loaded = useQuery<OverviewData>(
    `query Overview($days: Int, $tz: String) {
      stats { totalJobs activeJobs pausedJobs totalExecutions successRate avgDurationMs executionsLast24h
              upcomingRuns { job { id name } nextRunAt } }
      analytics(days: $days, timezone: $tz) { ${ANALYTICS} } }`,
    { days, tz: ZONE },
  );
  const feed = useFeed(`query Recent { runs: executionLogs(first: 20) { edges { node { ${RUN_FIELDS} } } } }`, false);
  useFollow(feed.finished, loaded.reload, 15_000);
  const now = useNow();
  const s = loaded.data?.stats;
  const upcoming = s?.upcomingRuns.filter((u) => new Date(u.nextRunAt).getTime() > now - 5_000) ?? [];
  return (
    <Page
      title="Overview"
      actions={
        <label>
          Period{" "}
          <select value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            <option value={1}>Today</option>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </label>
      }
    >
      <Problem error={loaded.error} />
      {s && (
        <Numbers
          items={[
            ["Jobs", s.totalJobs],
            ["Active", s.activeJobs],
            ["Paused", s.pausedJobs],
            ["Runs, last 24 h", s.executionsLast24h],
            ["Success rate", s.totalExecutions ? percent(s.successRate) : "—"],
            ["Average duration", duration(s.avgDurationMs)],
          ]}
        />
      )}
      {loaded.data && <Charts a={loaded.data.analytics} />}
      {upcoming.length > 0 && (
        <section aria-labelledby="upcoming">
          <h2 id="upcoming">Coming up</h2>
          <ul class="upcoming">
            {upcoming.map((u) => (
              <li key={u.job.id}>
                <a href={`/jobs/${u.job.id}`}>{u.job.name}</a> <span class="muted">{fromNow(u.nextRunAt, now)}</span>
              </li>
            ))}
          </ul>
        </section>
      )}
      <FeedView title="Live runs" feed={feed} />
    </Page>
  );
}
