ALTER TABLE jobs DROP COLUMN overlap_policy;
