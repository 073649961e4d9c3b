-- A run belongs to its job's owner, and the database now checks that itself: one foreign
-- key on (job_id, user_id) replaces one on each column. The check no longer locks the
-- owner's users row for every run written (concurrent scheduler instances writing runs of
-- one user shared that lock through multixacts); the job's row is locked as before.
ALTER TABLE jobs ADD CONSTRAINT jobs_id_user_key UNIQUE (id, user_id);
ALTER TABLE execution_logs
    DROP CONSTRAINT execution_logs_user_id_fkey,
    DROP CONSTRAINT execution_logs_job_id_fkey,
    ADD CONSTRAINT execution_logs_job_owner_fkey
        FOREIGN KEY (job_id, user_id) REFERENCES jobs (id, user_id) ON DELETE CASCADE;

-- Every run paid for an entry in it, for one reader: adminLogs(status: RUNNING) counting
-- its total, which now scans like every other status filter of adminLogs. Runs a dead
-- instance left RUNNING are found through their leases in Redis, not through it.
DROP INDEX execution_logs_running_idx;
