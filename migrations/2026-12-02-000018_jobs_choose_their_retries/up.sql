-- Which failures a job retries and how long it waits between attempts (backoffBaseMs,
-- backoffMaxMs, retryOn), as the API validated them; NULL: every failure, 1 s base,
-- 5 min cap. The number of retries stays in max_retries.
ALTER TABLE jobs ADD COLUMN retry_policy jsonb;
