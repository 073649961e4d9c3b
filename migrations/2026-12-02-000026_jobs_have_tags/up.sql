-- Tags group a user's jobs for listing and for bulk actions.
ALTER TABLE jobs ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX jobs_tags_idx ON jobs USING gin (tags);
