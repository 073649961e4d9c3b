ALTER TABLE jobs DROP COLUMN pause_note;
