DROP TABLE execution_logs;
