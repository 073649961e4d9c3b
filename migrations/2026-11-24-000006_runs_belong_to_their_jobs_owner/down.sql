CREATE INDEX execution_logs_running_idx ON execution_logs (started_at) WHERE status = 'RUNNING';
ALTER TABLE execution_logs
    DROP CONSTRAINT execution_logs_job_owner_fkey,
    ADD CONSTRAINT execution_logs_job_id_fkey
        FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE,
    ADD CONSTRAINT execution_logs_user_id_fkey
        FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE jobs DROP CONSTRAINT jobs_id_user_key;
