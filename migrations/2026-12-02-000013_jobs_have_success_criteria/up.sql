-- What a job's answer must be for a run to succeed (statuses, body texts, a JSON value,
-- a duration), as the API validated it; NULL is the default: any 2xx.
ALTER TABLE jobs ADD COLUMN success_criteria jsonb;
