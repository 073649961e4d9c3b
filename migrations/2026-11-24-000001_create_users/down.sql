DROP TABLE refresh_sessions;
DROP TABLE password_reset_tokens;
DROP TABLE email_verification_codes;
DROP TABLE users;
DROP FUNCTION set_updated_at();
