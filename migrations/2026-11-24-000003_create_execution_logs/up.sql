-- One row per attempt of one slot. The row is written as RUNNING before the request goes
-- out, so a process that dies mid-run leaves evidence that another one closes and retries.
CREATE TABLE execution_logs (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id        uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- The job's owner, copied so tenant filters never need a join.
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        text        NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT')),
    trigger       text        NOT NULL CHECK (trigger IN ('SCHEDULE', 'MANUAL', 'RETRY')),
    attempt       integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    -- The slot this run belongs to: the cron time for SCHEDULE, the original slot for RETRY,
    -- the request time for MANUAL.
    scheduled_for timestamptz NOT NULL,
    -- Fired after its slot had passed while no scheduler ran (the misfire rule).
    late          boolean     NOT NULL DEFAULT false,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    duration_ms   integer     CHECK (duration_ms >= 0),
    http_status   integer,
    response_body text,
    error         text,
    -- One slot can never be recorded twice, whichever scheduler instance tries.
    CONSTRAINT execution_logs_slot_key UNIQUE (job_id, scheduled_for, trigger, attempt)
);
-- executionLogs / Job.logs: newest first, keyset on (started_at, id), per user or per job.
CREATE INDEX execution_logs_user_started_idx ON execution_logs (user_id, started_at DESC, id DESC);
CREATE INDEX execution_logs_job_started_idx ON execution_logs (job_id, started_at DESC, id DESC);
-- Status filters and failure counts per user.
CREATE INDEX execution_logs_user_status_started_idx ON execution_logs (user_id, status, started_at DESC);
-- adminLogs, system-wide time-range analytics and retention sweeps.
CREATE INDEX execution_logs_started_idx ON execution_logs (started_at DESC, id DESC);
-- Runs left RUNNING by a process that died: found quickly by the recovery sweep.
CREATE INDEX execution_logs_running_idx ON execution_logs (started_at) WHERE status = 'RUNNING';
