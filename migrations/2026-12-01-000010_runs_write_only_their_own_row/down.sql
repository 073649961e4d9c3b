ALTER TABLE jobs
    ADD COLUMN last_run_at timestamptz,
    ADD COLUMN last_status text
        CHECK (last_status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT'));
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_slot_key UNIQUE (job_id, scheduled_for, trigger, attempt);
UPDATE jobs AS j SET last_run_at = l.at, last_status = l.status
FROM (SELECT DISTINCT ON (job_id) job_id, coalesce(sent_at, started_at) AS at, status
      FROM execution_logs WHERE status IN ('SUCCESS', 'FAILED', 'TIMEOUT')
      ORDER BY job_id, started_at DESC, id DESC) AS l
WHERE j.id = l.job_id;
UPDATE execution_logs SET started_at = sent_at WHERE sent_at IS NOT NULL;
ALTER TABLE execution_logs DROP COLUMN sent_at;
