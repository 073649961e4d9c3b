-- No query reads jobs by next_run_at across users (the reconciler pages by id; a user's
-- upcoming jobs come through the per-user index), and the index made every scheduler
-- write of next_run_at, one per run, a non-HOT update touching every index of jobs
-- (about 4x the cost per 1,000 rows, measured).
DROP INDEX jobs_active_next_run_idx;
