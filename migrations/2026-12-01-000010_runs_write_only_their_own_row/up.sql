-- Less work per run:
--
-- * the moment a request went out moves to its own column, `sent_at`; `started_at` is
--   now when the run was due to go out (its slot, or the moment it was prepared if that
--   was later, or a manual run's request time) and never changes after the insert, so
--   listings and windows keep using it and its indexes;
-- * the slot key goes: a run's id is derived from its slot (job, slot, trigger,
--   attempt), so the primary key already keeps a slot from being recorded twice, and
--   one index fewer is written for every run.
ALTER TABLE execution_logs ADD COLUMN sent_at timestamptz;
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_slot_key;

-- A run no longer writes its job: a job's last run is its latest closed run (read through
-- the (job_id, started_at) index), and its next fire time lives in Redis, rebuilt from
-- the job's latest slot and `next_run_at`, which only users' edits now set. Two updates
-- of `jobs` per run were a quarter of PostgreSQL's work in a burst.
ALTER TABLE jobs DROP COLUMN last_run_at, DROP COLUMN last_status;
