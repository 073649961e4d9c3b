-- Alerts. A job's policy (which channels, after how many consecutive failures, whether
-- recoveries are told, when to pause) is set by its owner; `consecutive_failures` is the
-- scheduler's count of runs failed in a row (a run counts once its retries are spent),
-- written only when it changes, so a healthy job's runs never write its row.
ALTER TABLE jobs
    ADD COLUMN alert_policy         jsonb,
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    -- Why the scheduler paused the job (auto-pause); cleared on resume.
    ADD COLUMN paused_reason        text;

-- Each user's secret that signs what CronOps sends them (webhook notices now, job
-- requests later): `next` is what `current` becomes on rotation, so a receiver can
-- accept both while it switches.
CREATE TABLE signing_secrets (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    current    text        NOT NULL,
    next       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: a notice is written in the transaction that records the run causing it,
-- then delivered at least once. A deliverer leases a PENDING notice before sending it
-- by moving its `next_attempt_at` past the send's longest time, so two instances never
-- send it at once; a dead one's lease runs out and another sends it. `event_id` groups the notices of one alert (one per channel): the
-- hourly cap counts alerts, not channels. Notices over the cap are FOLDED and later
-- summed up in one DIGEST notice per channel (`digest_id`).
CREATE TABLE notifications (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    job_id          uuid        REFERENCES jobs (id) ON DELETE SET NULL,
    channel_id      uuid        REFERENCES notification_channels (id) ON DELETE SET NULL,
    run_id          uuid,
    kind            text        NOT NULL
                    CHECK (kind IN ('FAILING', 'RECOVERED', 'AUTO_PAUSED', 'DIGEST', 'TEST')),
    status          text        NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'FOLDED')),
    -- What the notice says, fixed when the run is recorded (the job may change later).
    content         jsonb       NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    digest_id       uuid        REFERENCES notifications (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text
);

CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id DESC);
CREATE INDEX notifications_by_job ON notifications (job_id, created_at DESC, id DESC);
CREATE INDEX notifications_folded ON notifications (user_id)
    WHERE status = 'FOLDED' AND digest_id IS NULL;
