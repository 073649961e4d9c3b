-- Runs partitioned by the week of their slot, so that retention drops a whole week of
-- runs at once instead of deleting them one by one.
--
-- The partition key is `scheduled_for`: a run's id is derived from its slot, so
-- (id, scheduled_for) is unique exactly when id is, and inserting a slot a second time
-- still conflicts whichever instance tries. Weeks start on Monday 00:00 UTC: a week's
-- bounds are then whole days and quarter hours, so dropping one matches whole buckets of
-- the dashboard counts. Runs of a slot no week partition covers go to the default one.

CREATE FUNCTION run_week(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('7 days', t, '2001-01-01 00:00:00+00')  -- a Monday
$$;

-- Creates the missing week partitions from the week of `from` to that of `upto`.
-- A week whose runs already sit in the default partition is left there (the default
-- partition keeps them; retention deletes them row by row).
CREATE FUNCTION create_run_partitions(from_ timestamptz, upto timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    week timestamptz := run_week(from_);
    name text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7011960002);
    WHILE week <= upto LOOP
        name := 'execution_logs_' || to_char(week AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF execution_logs FOR VALUES FROM (%L) TO (%L)',
                               name, week, week + interval '7 days');
                created := created + 1;
            EXCEPTION WHEN check_violation THEN
                RAISE NOTICE 'runs of the week of % are in the default partition', week;
            END;
        END IF;
        week := week + interval '7 days';
    END LOOP;
    RETURN created;
END
$$;

-- Drops the week partitions that end at or before `before`, with the dashboard counts of
-- those weeks, and returns how many it dropped. Runs of those weeks in the default
-- partition must be deleted first (their delete keeps the counts right).
CREATE FUNCTION drop_run_partitions(before timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part record;
    upto timestamptz;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(7011960002);
    FOR part IN
        SELECT c.oid::regclass AS name,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS ends
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'execution_logs'::regclass
          AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    LOOP
        IF part.ends <= before THEN
            EXECUTE format('DROP TABLE %s', part.name);
            upto := greatest(upto, part.ends);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    IF upto IS NOT NULL THEN
        -- No run started before `upto` is left: each is due no earlier than its slot.
        DELETE FROM run_counts WHERE bucket < upto;
        DELETE FROM run_duration_counts WHERE bucket < upto;
        DELETE FROM job_failure_counts WHERE bucket < upto;
    END IF;
    RETURN dropped;
END
$$;

CREATE TABLE execution_logs_partitioned (
    LIKE execution_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    PRIMARY KEY (id, scheduled_for),
    CONSTRAINT execution_logs_job_owner_fkey FOREIGN KEY (job_id, user_id)
        REFERENCES jobs (id, user_id) ON DELETE CASCADE
) PARTITION BY RANGE (scheduled_for);
CREATE TABLE execution_logs_default PARTITION OF execution_logs_partitioned DEFAULT;

DROP TRIGGER execution_logs_counted_on_insert ON execution_logs;
DROP TRIGGER execution_logs_counted_on_update ON execution_logs;
DROP TRIGGER execution_logs_counted_on_delete ON execution_logs;
ALTER TABLE execution_logs RENAME TO execution_logs_unpartitioned;
ALTER TABLE execution_logs_partitioned RENAME TO execution_logs;

SELECT create_run_partitions(
    least(now(), (SELECT min(scheduled_for) FROM execution_logs_unpartitioned)),
    now() + interval '14 days');

-- Same rows, same counts: the triggers come after the copy.
INSERT INTO execution_logs SELECT * FROM execution_logs_unpartitioned;
DROP TABLE execution_logs_unpartitioned;
ALTER INDEX execution_logs_partitioned_pkey RENAME TO execution_logs_pkey;

CREATE INDEX execution_logs_user_started_idx ON execution_logs (user_id, started_at DESC, id DESC);
CREATE INDEX execution_logs_job_started_idx ON execution_logs (job_id, started_at DESC, id DESC);
CREATE INDEX execution_logs_user_status_started_idx ON execution_logs (user_id, status, started_at DESC);
CREATE INDEX execution_logs_started_idx ON execution_logs (started_at DESC, id DESC);

CREATE TRIGGER execution_logs_counted_on_insert AFTER INSERT ON execution_logs
    REFERENCING NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_runs();
CREATE TRIGGER execution_logs_counted_on_update AFTER UPDATE ON execution_logs
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION count_updated_runs();
CREATE TRIGGER execution_logs_counted_on_delete AFTER DELETE ON execution_logs
    REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_runs();
