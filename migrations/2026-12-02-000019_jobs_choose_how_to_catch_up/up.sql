-- What a job does with the slots it missed while no scheduler claimed it (an outage of
-- every scheduler, or a Redis rebuild): LATEST_ONCE fires the latest once (the misfire
-- rule, as before), SKIP fires none, ALL replays them (at most 100), oldest first.
ALTER TABLE jobs ADD COLUMN catch_up_policy text NOT NULL DEFAULT 'LATEST_ONCE'
    CHECK (catch_up_policy IN ('LATEST_ONCE', 'SKIP', 'ALL'));
