ALTER TABLE execution_logs
    DROP COLUMN response_content_type,
    DROP COLUMN response_body_truncated;
