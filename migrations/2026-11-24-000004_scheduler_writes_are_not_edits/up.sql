-- A job's updated_at says when its owner (or an admin) last changed it. The scheduler's
-- bookkeeping (next_run_at, last_run_at, last_status), written on every run, is not an
-- edit: the trigger fires only for the columns a person sets. Leaving room on each page
-- (fillfactor) lets those frequent writes stay heap-only (HOT) where no index is touched.
DROP TRIGGER jobs_updated_at ON jobs;
CREATE TRIGGER jobs_updated_at
    BEFORE UPDATE OF user_id, name, description, cron_expression, timezone, target_type,
                     target_url, http_method, headers, body, timeout_ms, max_retries, status
    ON jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
ALTER TABLE jobs SET (fillfactor = 80);
