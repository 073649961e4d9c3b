-- overlapPolicy BUFFER_ONE: one slot due while the previous run is out waits for it.
ALTER TABLE jobs DROP CONSTRAINT jobs_overlap_policy_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_overlap_policy_check
    CHECK (overlap_policy IN ('ALLOW', 'SKIP', 'BUFFER_ONE'));
