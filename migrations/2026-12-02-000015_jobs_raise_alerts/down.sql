DROP TABLE notifications;
DROP TABLE signing_secrets;
ALTER TABLE jobs DROP COLUMN alert_policy, DROP COLUMN consecutive_failures,
    DROP COLUMN paused_reason;
