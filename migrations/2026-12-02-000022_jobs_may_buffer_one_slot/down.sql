UPDATE jobs SET overlap_policy = 'SKIP' WHERE overlap_policy = 'BUFFER_ONE';
ALTER TABLE jobs DROP CONSTRAINT jobs_overlap_policy_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_overlap_policy_check
    CHECK (overlap_policy IN ('ALLOW', 'SKIP'));
