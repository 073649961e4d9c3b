-- Where a user's alerts go. An account's own email is a channel from the start (the
-- trigger adds it to every new user; the insert below to existing ones), verified: the
-- account proved it owns the address. Another address is verified only once the link
-- sent to it is opened, so CronOps cannot be used to mail strangers.
CREATE TABLE notification_channels (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind               text        NOT NULL CHECK (kind IN ('EMAIL', 'WEBHOOK', 'SLACK')),
    name               text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    target             text        NOT NULL CHECK (length(target) BETWEEN 1 AND 2048),
    -- The account's own email: it follows the account and cannot be removed.
    account_email      boolean     NOT NULL DEFAULT false,
    verified_at        timestamptz,
    -- sha-256 of the link token sent to an unverified address, and until when it works.
    verify_token_hash  text        UNIQUE,
    verify_expires_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_delivery_at   timestamptz,
    last_error         text
);

CREATE INDEX notification_channels_by_user ON notification_channels (user_id, created_at);
CREATE UNIQUE INDEX notification_channels_one_account_email
    ON notification_channels (user_id) WHERE account_email;

CREATE FUNCTION add_account_email_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_channels (user_id, kind, name, target, account_email, verified_at)
    VALUES (NEW.id, 'EMAIL', 'Account email', NEW.email, true, now());
    RETURN NEW;
END
$$;

CREATE TRIGGER users_get_their_email_channel
    AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION add_account_email_channel();

INSERT INTO notification_channels (user_id, kind, name, target, account_email, verified_at)
SELECT id, 'EMAIL', 'Account email', email, true, now() FROM users;
