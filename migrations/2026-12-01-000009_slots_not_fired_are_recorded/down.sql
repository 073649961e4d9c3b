DELETE FROM execution_logs WHERE status = 'SKIPPED';
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_status_check;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_status_check
    CHECK (status IN ('PREPARED', 'PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT'));
