ALTER TABLE jobs DROP COLUMN catch_up_policy;
