CREATE INDEX jobs_active_next_run_idx ON jobs (next_run_at) WHERE status = 'ACTIVE';
