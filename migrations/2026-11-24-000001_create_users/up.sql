-- Accounts and everything that authenticates them. Every row that belongs to a user
-- cascades when the user is deleted.

-- Keeps updated_at honest without every UPDATE having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored normalised by the application (trimmed, lower case: db::models::user::
    -- normalize_email), so the plain unique key is case-insensitive.
    email             text        NOT NULL UNIQUE
                      CHECK (email = btrim(email) AND length(email) BETWEEN 3 AND 254),
    name              text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    password_hash     text        NOT NULL,
    role              text        NOT NULL DEFAULT 'USER' CHECK (role IN ('USER', 'ADMIN')),
    plan              text        NOT NULL DEFAULT 'FREE' CHECK (plan IN ('FREE', 'PREMIUM', 'PRO')),
    email_verified_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- adminUsers: newest first, keyset on (created_at, id), optionally by role.
CREATE INDEX users_created_idx ON users (created_at DESC, id DESC);
CREATE INDEX users_role_created_idx ON users (role, created_at DESC, id DESC);
CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One live sign-up code per user: resending replaces the row, which kills the old code.
CREATE TABLE email_verification_codes (
    user_id    uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE password_reset_tokens (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text        NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- A refresh token is opaque and stored hashed. Rotation marks the old row rotated and adds
-- a new one in the same family; presenting a rotated token revokes the whole family.
CREATE TABLE refresh_sessions (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  uuid        NOT NULL,
    token_hash text        NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_sessions_user_idx ON refresh_sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_sessions_family_idx ON refresh_sessions (family_id);
