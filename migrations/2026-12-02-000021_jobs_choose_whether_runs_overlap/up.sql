-- Whether a job's slot fires while its previous run is still out: ALLOW (as before) or
-- SKIP (the slot is recorded as SKIPPED instead).
ALTER TABLE jobs ADD COLUMN overlap_policy text NOT NULL DEFAULT 'ALLOW'
    CHECK (overlap_policy IN ('ALLOW', 'SKIP'));
