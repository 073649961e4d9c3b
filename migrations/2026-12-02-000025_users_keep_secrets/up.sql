-- Users' secrets, sealed with AES-256-GCM under the deployment's SECRETS_KEY (key_id
-- names which key): only ciphertext is stored.
CREATE TABLE secrets (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text        NOT NULL,
    key_id     text        NOT NULL,
    nonce      bytea       NOT NULL,
    ciphertext bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, name)
);
CREATE INDEX secrets_key_idx ON secrets (key_id);
