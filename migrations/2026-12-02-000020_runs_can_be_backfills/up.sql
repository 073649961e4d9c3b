-- backfillJob fires past slots of a job on request: their runs say BACKFILL.
ALTER TABLE execution_logs DROP CONSTRAINT execution_logs_trigger_check;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_trigger_check
    CHECK (trigger IN ('SCHEDULE', 'MANUAL', 'RETRY', 'BACKFILL'));
