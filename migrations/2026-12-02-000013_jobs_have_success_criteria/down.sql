ALTER TABLE jobs DROP COLUMN success_criteria;
