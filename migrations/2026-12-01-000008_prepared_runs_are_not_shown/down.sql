-- PREPARED rows never went out: they go with the status.
DELETE FROM execution_logs WHERE status = 'PREPARED';
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_status_check;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_status_check
    CHECK (status IN ('PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT'));
