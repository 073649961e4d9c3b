-- What the owner wrote when pausing the job (pauseJob's note), shown until it resumes.
ALTER TABLE jobs ADD COLUMN pause_note text;
