-- Jobs are the source of truth for scheduling: Redis only mirrors next_run_at of ACTIVE ones.
CREATE TABLE jobs (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description     text,
    cron_expression text        NOT NULL,
    timezone        text        NOT NULL DEFAULT 'UTC',
    target_type     text        NOT NULL DEFAULT 'HTTP' CHECK (target_type IN ('HTTP')),
    target_url      text        NOT NULL CHECK (length(target_url) <= 2048),
    http_method     text        NOT NULL DEFAULT 'GET'
                    CHECK (http_method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD')),
    headers         jsonb,
    body            text        CHECK (octet_length(body) <= 65536),
    timeout_ms      integer     NOT NULL DEFAULT 10000 CHECK (timeout_ms > 0),
    max_retries     integer     NOT NULL DEFAULT 0 CHECK (max_retries >= 0),
    status          text        NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED')),
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_status     text        CHECK (last_status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- jobs(...): a user's jobs newest first, keyset on (created_at, id), optionally by status.
CREATE INDEX jobs_user_created_idx ON jobs (user_id, created_at DESC, id DESC);
CREATE INDEX jobs_user_status_created_idx ON jobs (user_id, status, created_at DESC, id DESC);
-- adminJobs across users.
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
-- The reconciler and "upcoming runs" read ACTIVE jobs by next fire time.
CREATE INDEX jobs_active_next_run_idx ON jobs (next_run_at) WHERE status = 'ACTIVE';
CREATE TRIGGER jobs_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
