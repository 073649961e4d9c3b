-- One-time and bounded schedules, and jitter. A job fires on its cron expression or once
-- at run_at (exactly one of the two); a cron job fires no slot before start_at or after
-- end_at, and at most max_runs scheduled runs (scheduled_runs counts them, for jobs with
-- a max_runs). A job with no slot left is COMPLETED, which no plan limit counts.
-- jitter_seconds delays each slot by an amount derived from the job and the slot.
ALTER TABLE jobs ALTER COLUMN cron_expression DROP NOT NULL;
ALTER TABLE jobs
    ADD COLUMN run_at timestamptz,
    ADD COLUMN start_at timestamptz,
    ADD COLUMN end_at timestamptz,
    ADD COLUMN max_runs int4 CHECK (max_runs > 0),
    ADD COLUMN scheduled_runs int4 NOT NULL DEFAULT 0,
    ADD COLUMN jitter_seconds int4 NOT NULL DEFAULT 0 CHECK (jitter_seconds >= 0),
    ADD CONSTRAINT jobs_cron_or_run_at CHECK ((cron_expression IS NULL) <> (run_at IS NULL)),
    ADD CONSTRAINT jobs_window_is_ordered CHECK (end_at IS NULL OR start_at IS NULL OR end_at > start_at);
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('ACTIVE', 'PAUSED', 'COMPLETED'));
