// Small SVG charts, drawn here rather than by a charting library: a few bars each, with a
// text equivalent for screen readers (role="img" and a label that says the numbers).

import { duration, percent } from "../format";

export interface Day {
  date: string;
  total: number;
  success: number;
  failed: number;
}

/** Runs per day, succeeded and failed stacked. */
export function DailyTrend({ days }: { days: Day[] }) {
  const max = Math.max(1, ...days.map((d) => d.total));
  const width = 100 / Math.max(1, days.length);
  const label = days.map((d) => `${d.date}: ${d.success} succeeded, ${d.failed} failed`).join("; ");
  return (
    <figure class="chart">
      <figcaption>Runs per day</figcaption>
      <svg viewBox="0 0 100 50" preserveAspectRatio="none" role="img" aria-label={label || "No runs"}>
        {days.map((d, i) => {
          const ok = (d.success / max) * 48;
          const bad = (d.failed / max) * 48;
          return (
            <g key={d.date}>
              <rect class="ok" x={i * width + width * 0.15} width={width * 0.7} y={50 - ok} height={ok} />
              <rect class="bad" x={i * width + width * 0.15} width={width * 0.7} y={50 - ok - bad} height={bad} />
            </g>
          );
        })}
      </svg>
      <div class="axis">
        {days.map((d) => (
          <span key={d.date}>{d.date.slice(5)}</span>
        ))}
      </div>
    </figure>
  );
}

/** Runs by hour of the day. */
export function Hourly({ hours }: { hours: { hour: number; count: number }[] }) {
  const counts = Array.from({ length: 24 }, (_, h) => hours.find((x) => x.hour === h)?.count ?? 0);
  const max = Math.max(1, ...counts);
  return (
    <figure class="chart">
      <figcaption>Runs by hour of day</figcaption>
      <svg
        viewBox="0 0 96 40"
        preserveAspectRatio="none"
        role="img"
        aria-label={counts.map((c, h) => `${h}h: ${c}`).join(", ")}
      >
        {counts.map((c, h) => (
          <rect key={h} class="ok" x={h * 4 + 0.5} width={3} y={40 - (c / max) * 38} height={(c / max) * 38} />
        ))}
      </svg>
      <div class="axis">
        <span>0h</span>
        <span>6h</span>
        <span>12h</span>
        <span>18h</span>
        <span>23h</span>
      </div>
    </figure>
  );
}

/** Duration percentiles as bars against the slowest. */
export function Percentiles({ p }: { p: { p50: number | null; p95: number | null; p99: number | null } }) {
  const rows: [string, number | null][] = [
    ["p50", p.p50],
    ["p95", p.p95],
    ["p99", p.p99],
  ];
  const max = Math.max(1, ...rows.map(([, v]) => v ?? 0));
  return (
    <figure class="chart">
      <figcaption>Duration percentiles</figcaption>
      <dl class="bars">
        {rows.map(([name, value]) => (
          <div key={name}>
            <dt>{name}</dt>
            <dd>
              <span class="track">
                <span class="bar" style={{ width: `${((value ?? 0) / max) * 100}%` }} />
              </span>
              {duration(value)}
            </dd>
          </div>
        ))}
      </dl>
    </figure>
  );
}

/** The jobs that failed most. */
export function TopFailing({ jobs }: { jobs: { job: { id: string; name: string }; failures: number }[] }) {
  const max = Math.max(1, ...jobs.map((j) => j.failures));
  return (
    <figure class="chart">
      <figcaption>Top failing jobs</figcaption>
      {jobs.length === 0 ? (
        <p class="muted">No failures in this period.</p>
      ) : (
        <dl class="bars">
          {jobs.map((j) => (
            <div key={j.job.id}>
              <dt>
                <a href={`/jobs/${j.job.id}`}>{j.job.name}</a>
              </dt>
              <dd>
                <span class="track">
                  <span class="bar bad" style={{ width: `${(j.failures / max) * 100}%` }} />
                </span>
                {j.failures}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </figure>
  );
}

/** A success rate as a filled gauge. */
export function Rate({ rate }: { rate: number }) {
  return (
    <figure class="chart">
      <figcaption>Success rate</figcaption>
      <div class="gauge" role="img" aria-label={`${rate.toFixed(1)} percent of finished runs succeeded`}>
        <span class="bar" style={{ width: `${Math.min(100, rate)}%` }} />
      </div>
      <p class="big">{percent(rate)}</p>
    </figure>
  );
}

/** Headline numbers, each with its label. */
export function Numbers({ items }: { items: [string, string | number][] }) {
  return (
    <dl class="numbers">
      {items.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{typeof value === "number" ? value.toLocaleString() : value}</dd>
        </div>
      ))}
    </dl>
  );
}
