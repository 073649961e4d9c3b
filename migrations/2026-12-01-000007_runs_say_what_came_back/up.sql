-- What a run's stored response is: whether the body went on past the 64 KiB kept, and
-- the Content-Type the target declared (both as storable text: see scheduler::text).
ALTER TABLE execution_logs
    ADD COLUMN response_body_truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN response_content_type   text;
