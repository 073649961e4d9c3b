DROP TRIGGER users_get_their_email_channel ON users;
DROP FUNCTION add_account_email_channel();
DROP TABLE notification_channels;
