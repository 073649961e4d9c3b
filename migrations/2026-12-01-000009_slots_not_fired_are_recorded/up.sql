-- A slot the scheduler does not fire is recorded as SKIPPED, with the reason in `error`
-- (the misfire rule after a gap longer than 30 s: only the latest missed slot fires).
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_status_check;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_status_check
    CHECK (status IN ('PREPARED', 'PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT', 'SKIPPED'));
