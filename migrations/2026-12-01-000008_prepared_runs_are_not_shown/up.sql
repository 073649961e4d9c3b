-- A run claimed ahead of its slot is written before its request goes out (so that no
-- other instance fires the slot), as PREPARED: not sent yet, and not shown by the API.
-- It becomes RUNNING, with started_at the moment its request went out, once it is sent,
-- or goes straight to its outcome; a pause before its slot deletes it unseen.
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_status_check;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_status_check
    CHECK (status IN ('PREPARED', 'PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'TIMEOUT'));
