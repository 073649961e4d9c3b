// How times, durations and schedules read on screen.

import cronstrue from "cronstrue";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

export function when(iso: string | null | undefined): string {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

/** "in 3 minutes", "5 seconds ago". */
export function fromNow(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "—";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return relative.format(seconds, "second");
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  return relative.format(Math.round(seconds / 86400), "day");
}

export function duration(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "1 job", "3 jobs". */
export function count(n: number, one: string, many: string): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** The API's rates are percentages already. */
export function percent(rate: number): string {
  return `${rate.toFixed(1)} %`;
}

/** "New York time" for America/New_York; UTC stays UTC. */
export function zoneWords(timezone: string): string {
  if (timezone === "UTC" || timezone === "Etc/UTC") return "UTC";
  const city = timezone.split("/").pop() ?? timezone;
  return `${city.replace(/_/g, " ")} time`;
}

interface Schedule {
  cronExpression: string;
  timezone: string;
  runAt?: string | null;
}

/** "Every 5 minutes, New York time"; the expression itself when it has no words (H). */
export function scheduleWords(job: Schedule): string {
  if (job.runAt) return `Once, ${when(job.runAt)}`;
  let words: string;
  try {
    words = cronstrue.toString(job.cronExpression, { use24HourTimeFormat: true, throwExceptionOnParseError: true });
  } catch {
    words = job.cronExpression;
  }
  return `${words}, ${zoneWords(job.timezone)}`;
}
