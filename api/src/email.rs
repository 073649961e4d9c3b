//! Outgoing email through lettre: SMTP when EMAIL_HOST is set (STARTTLS when the server
//! offers it), otherwise the log plus `.eml` files in MAIL_DIR so development works offline.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::EmailConfig;

/// One message in both forms every client can show.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(PathBuf),
}

/// Sends [`Email`]s from EMAIL_FROM.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
    /// Whether a message kept in MAIL_DIR is also written to the log (development only:
    /// messages hold codes and reset links, and logs travel further than mail).
    log_bodies: bool,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Folder(dir) => format!("folder {}", dir.display()),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &kind)
            .finish()
    }
}

impl Mailer {
    /// Builds the transport from the configuration; errors name the variable at fault.
    pub fn new(config: &EmailConfig, env: crate::config::AppEnv) -> anyhow::Result<Mailer> {
        let from: Mailbox = config
            .email_from
            .parse()
            .with_context(|| format!("EMAIL_FROM: `{}` is not an address", config.email_from))?;
        let transport = match &config.email_host {
            None => Transport::Folder(config.mail_dir.clone()),
            Some(host) => {
                let tls = TlsParameters::new(host.clone()).context("EMAIL_HOST: TLS parameters")?;
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
                        .port(config.email_port)
                        .tls(Tls::Opportunistic(tls))
                        .timeout(Some(Duration::from_secs(10)));
                if let (Some(user), Some(pass)) = (&config.email_user, &config.email_pass) {
                    builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Mailer {
            from,
            transport,
            log_bodies: env == crate::config::AppEnv::Development,
        })
    }

    /// Sends one message. Failures come back as errors for the caller to report.
    pub async fn send(&self, email: &Email) -> anyhow::Result<()> {
        let to: Mailbox = email
            .to
            .parse()
            .with_context(|| format!("recipient `{}`", email.to))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .context("building the message")?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.context("SMTP delivery failed")?;
                // Subjects can hold a code: only development logs them.
                if self.log_bodies {
                    tracing::info!(to = %email.to, subject = %email.subject, "email sent");
                } else {
                    tracing::info!(to = %email.to, "email sent");
                }
            }
            Transport::Folder(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("MAIL_DIR: cannot create {}", dir.display()))?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    email.to.replace(['/', '\\'], "_")
                );
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("MAIL_DIR: cannot write {}", path.display()))?;
                if self.log_bodies {
                    tracing::info!(
                        to = %email.to,
                        subject = %email.subject,
                        file = %path.display(),
                        "email not sent (no EMAIL_HOST); written to MAIL_DIR:\n{}",
                        email.text
                    );
                } else {
                    tracing::info!(
                        to = %email.to,
                        file = %path.display(),
                        "email not sent (no EMAIL_HOST); written to MAIL_DIR"
                    );
                }
            }
        }
        Ok(())
    }
}

/// The messages CronOps sends.
pub mod templates {
    use super::Email;

    fn html_page(body: &str) -> String {
        format!(
            "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">{body}\
             <p style=\"color:#888\">CronOps</p></body></html>"
        )
    }

    /// The sign-up code.
    pub fn verification_code(to: &str, name: &str, code: &str, minutes: i64) -> Email {
        Email {
            to: to.to_owned(),
            subject: format!("Your CronOps verification code: {code}"),
            text: format!(
                "Hi {name},\n\nYour CronOps verification code is {code}.\n\
                 It expires in {minutes} minutes. If you did not sign up, ignore this email.\n"
            ),
            html: html_page(&format!(
                "<p>Hi {},</p><p>Your CronOps verification code is</p>\
                 <p style=\"font-size:28px;letter-spacing:4px\"><b>{code}</b></p>\
                 <p>It expires in {minutes} minutes. If you did not sign up, ignore this email.</p>",
                escape(name)
            )),
        }
    }

    /// Someone signed up with an address that has an account already.
    pub fn account_exists(to: &str, name: &str, reset_link: &str) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Your CronOps account".to_owned(),
            text: format!(
                "Hi {name},\n\nSomeone, maybe you, tried to sign up to CronOps with this address.\n\
                 You already have an account: log in with it. If you forgot your password, \
                 choose a new one here:\n\n{reset_link}\n\n\
                 If it was not you, ignore this email; nothing changed.\n"
            ),
            html: html_page(&format!(
                "<p>Hi {},</p><p>Someone, maybe you, tried to sign up to CronOps with this address.</p>\
                 <p>You already have an account: log in with it. If you forgot your password, \
                 <a href=\"{reset_link}\">choose a new one</a>.</p>\
                 <p>If it was not you, ignore this email; nothing changed.</p>",
                escape(name)
            )),
        }
    }

    /// The password reset link.
    pub fn password_reset(to: &str, name: &str, link: &str, minutes: i64) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Reset your CronOps password".to_owned(),
            text: format!(
                "Hi {name},\n\nSomeone asked to reset the password of your CronOps account.\n\
                 Open this link to choose a new one (valid {minutes} minutes, once):\n\n{link}\n\n\
                 If it was not you, ignore this email; your password stays as it is.\n"
            ),
            html: html_page(&format!(
                "<p>Hi {},</p><p>Someone asked to reset the password of your CronOps account.</p>\
                 <p><a href=\"{link}\">Choose a new password</a> (valid {minutes} minutes, once).</p>\
                 <p>If it was not you, ignore this email; your password stays as it is.</p>",
                escape(name)
            )),
        }
    }

    /// The link that makes an address a notification channel of an account.
    pub fn channel_verification(to: &str, owner: &str, link: &str, hours: i64) -> Email {
        Email {
            to: to.to_owned(),
            subject: "Confirm CronOps alerts to this address".to_owned(),
            text: format!(
                "Hello,\n\nThe CronOps account of {owner} wants to send job alerts to this address.\n\
                 Open this link to accept them (valid {hours} hours, once):\n\n{link}\n\n\
                 If you do not know this account, ignore this email: nothing is sent here until \
                 the link is opened.\n"
            ),
            html: html_page(&format!(
                "<p>Hello,</p><p>The CronOps account of {} wants to send job alerts to this address.</p>\
                 <p><a href=\"{link}\">Accept the alerts</a> (valid {hours} hours, once).</p>\
                 <p>If you do not know this account, ignore this email: nothing is sent here until \
                 the link is opened.</p>",
                escape(owner)
            )),
        }
    }

    /// Minimal HTML escaping for user-provided text.
    pub(crate) fn escape(raw: &str) -> String {
        raw.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
}

#[cfg(test)]
mod tests {
    use super::templates;

    #[test]
    fn text_parts_have_no_source_indentation() {
        let mails = [
            templates::verification_code("a@example.com", "Ann", "123456", 15),
            templates::account_exists("a@example.com", "Ann", "https://x/reset"),
            templates::password_reset("a@example.com", "Ann", "https://x/reset", 60),
            templates::channel_verification("b@example.com", "a@example.com", "https://x/v", 24),
        ];
        for mail in mails {
            assert!(
                !mail.text.lines().any(|line| line.starts_with(' ')),
                "{}:\n{}",
                mail.subject,
                mail.text
            );
        }
    }
}
