-- Dashboard numbers from counts kept as runs change, not from scanning runs.
--
-- `stats`, `analytics` and `adminStats` summed every run in their window: 0.6 to 3 s for
-- a user with 1,000,000 runs. Statement triggers on `execution_logs` now keep three
-- small tables current in the transaction that changes the runs, whatever the path
-- (scheduler batches, recovery, manual runs, retention, a job or user deleted), so the
-- counts are exactly the rows' and a read sums a few thousand rows at most.
--
-- Every run but a PREPARED one counts (as the listings show it), at the quarter hour its
-- `started_at` falls in: every timezone's midnight and hour are on a quarter hour, so
-- days and hours of any timezone are sums of whole buckets. The all-users totals sit
-- under the nil user id.

CREATE TABLE run_counts (
    user_id      uuid        NOT NULL,
    bucket       timestamptz NOT NULL,
    total        bigint      NOT NULL DEFAULT 0,
    success      bigint      NOT NULL DEFAULT 0,
    -- FAILED and TIMEOUT.
    failure      bigint      NOT NULL DEFAULT 0,
    -- Runs with a duration, and the sum of their durations (for averages).
    timed        bigint      NOT NULL DEFAULT 0,
    duration_sum bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, bucket)
);

-- Durations by day (UTC) as a histogram: exact below 100 ms, then bins 2 % wide (see
-- `duration_bin`), so percentiles come from a few hundred numbers per day.
CREATE TABLE run_duration_counts (
    user_id uuid        NOT NULL,
    bucket  timestamptz NOT NULL,
    bin     smallint    NOT NULL,
    runs    bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, bucket, bin)
);

-- Failed runs (FAILED and TIMEOUT) per job and day (UTC), for the top failing jobs; the
-- part of a period before its first UTC midnight is counted from the runs themselves.
CREATE TABLE job_failure_counts (
    job_id   uuid        NOT NULL,
    bucket   timestamptz NOT NULL,
    user_id  uuid        NOT NULL,
    failures bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, bucket)
);
CREATE INDEX job_failure_counts_user_bucket_idx ON job_failure_counts (user_id, bucket);
CREATE INDEX job_failure_counts_bucket_idx ON job_failure_counts (bucket);

CREATE FUNCTION duration_bin(ms integer) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ms < 100 THEN greatest(ms, 0)
                ELSE least(100 + floor(ln(ms / 100.0) / ln(1.02)), 32767) END::smallint
$$;

-- The statement adding the rows of the query `changes` (columns sign, user_id, job_id,
-- started_at, status, duration_ms; sign +1 for a row as it now is, -1 for a row as it
-- was) to the counts. Rows are locked in key order, the nil user first, so concurrent
-- statements never deadlock on them. The triggers run it themselves: a transition table
-- is visible only to the trigger's own function.
CREATE FUNCTION count_run_changes(changes text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT format($q$
        WITH c AS MATERIALIZED (
            SELECT sign, user_id, job_id, started_at, status, duration_ms
            FROM (%s) AS c(sign, user_id, job_id, started_at, status, duration_ms)
            WHERE status <> 'PREPARED'
        ),
        owners AS (
            SELECT o.user_id, c.sign, c.job_id, c.started_at, c.status, c.duration_ms
            FROM c CROSS JOIN LATERAL (VALUES (c.user_id), ('00000000-0000-0000-0000-000000000000'::uuid)) AS o(user_id)
        ),
        counts AS (
            INSERT INTO run_counts AS r (user_id, bucket, total, success, failure, timed, duration_sum)
            SELECT user_id, date_bin('15 minutes', started_at, 'epoch'), sum(sign),
                   coalesce(sum(sign) FILTER (WHERE status = 'SUCCESS'), 0),
                   coalesce(sum(sign) FILTER (WHERE status IN ('FAILED', 'TIMEOUT')), 0),
                   coalesce(sum(sign) FILTER (WHERE duration_ms IS NOT NULL), 0),
                   coalesce(sum(sign * duration_ms::bigint), 0)
            FROM owners GROUP BY 1, 2
            HAVING sum(sign) <> 0
                OR coalesce(sum(sign) FILTER (WHERE status = 'SUCCESS'), 0) <> 0
                OR coalesce(sum(sign) FILTER (WHERE status IN ('FAILED', 'TIMEOUT')), 0) <> 0
                OR coalesce(sum(sign) FILTER (WHERE duration_ms IS NOT NULL), 0) <> 0
                OR coalesce(sum(sign * duration_ms::bigint), 0) <> 0
            ORDER BY 1, 2
            ON CONFLICT (user_id, bucket) DO UPDATE SET
                total = r.total + excluded.total, success = r.success + excluded.success,
                failure = r.failure + excluded.failure, timed = r.timed + excluded.timed,
                duration_sum = r.duration_sum + excluded.duration_sum
        ),
        durations AS (
            INSERT INTO run_duration_counts AS r (user_id, bucket, bin, runs)
            SELECT user_id, date_bin('1 day', started_at, 'epoch'), duration_bin(duration_ms), sum(sign)
            FROM owners WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3
            HAVING sum(sign) <> 0
            ORDER BY 1, 2, 3
            ON CONFLICT (user_id, bucket, bin) DO UPDATE SET runs = r.runs + excluded.runs
        )
        INSERT INTO job_failure_counts AS r (job_id, bucket, user_id, failures)
        SELECT job_id, date_bin('1 day', started_at, 'epoch'), user_id, sum(sign)
        FROM c WHERE status IN ('FAILED', 'TIMEOUT') GROUP BY 1, 2, 3
        HAVING sum(sign) <> 0
        ORDER BY 1, 2
        ON CONFLICT (job_id, bucket) DO UPDATE SET failures = r.failures + excluded.failures
    $q$, changes)
$fn$;

CREATE FUNCTION count_inserted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE count_run_changes(
        'SELECT 1, user_id, job_id, started_at, status, duration_ms FROM new_runs');
    RETURN NULL;
END
$$;

CREATE FUNCTION count_updated_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE count_run_changes(
        'SELECT 1, user_id, job_id, started_at, status, duration_ms FROM new_runs '
        'UNION ALL SELECT -1, user_id, job_id, started_at, status, duration_ms FROM old_runs');
    RETURN NULL;
END
$$;

CREATE FUNCTION count_deleted_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE count_run_changes(
        'SELECT -1, user_id, job_id, started_at, status, duration_ms FROM old_runs');
    RETURN NULL;
END
$$;

CREATE TRIGGER execution_logs_counted_on_insert AFTER INSERT ON execution_logs
    REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_runs();
CREATE TRIGGER execution_logs_counted_on_update AFTER UPDATE ON execution_logs
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION count_updated_runs();
CREATE TRIGGER execution_logs_counted_on_delete AFTER DELETE ON execution_logs
    REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_runs();

-- The runs already recorded.
DO $$
BEGIN
    EXECUTE count_run_changes(
        'SELECT 1, user_id, job_id, started_at, status, duration_ms FROM execution_logs');
END
$$;
