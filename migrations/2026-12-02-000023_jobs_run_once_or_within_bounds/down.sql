DELETE FROM jobs WHERE run_at IS NOT NULL;
UPDATE jobs SET status = 'PAUSED' WHERE status = 'COMPLETED';
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('ACTIVE', 'PAUSED'));
ALTER TABLE jobs
    DROP CONSTRAINT jobs_cron_or_run_at,
    DROP CONSTRAINT jobs_window_is_ordered,
    DROP COLUMN run_at,
    DROP COLUMN start_at,
    DROP COLUMN end_at,
    DROP COLUMN max_runs,
    DROP COLUMN scheduled_runs,
    DROP COLUMN jitter_seconds;
ALTER TABLE jobs ALTER COLUMN cron_expression SET NOT NULL;
