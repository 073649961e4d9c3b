//! One module per table: the row types and the queries that read and write them.

pub mod api_key;
pub mod channel;
pub mod execution_log;
pub mod job;
pub mod job_bulk;
pub mod job_health;
pub mod job_listing;
pub mod job_progress;
pub mod notification;
pub mod password_reset;
pub mod refresh_session;
pub mod retention;
pub mod secret;
pub mod signing_secret;
pub mod stats;
pub mod user;
pub mod verification_code;

pub use api_key::ApiKey;
pub use channel::{NewChannel, NotificationChannel};
pub use execution_log::ExecutionLog;
pub use job::Job;
pub use notification::Notification;
pub use password_reset::PasswordResetToken;
pub use refresh_session::{NewRefreshSession, RefreshSession, Rotation};
pub use signing_secret::SigningSecret;
pub use user::{NewUser, User};
pub use verification_code::VerificationCode;
