//! Account helpers for tests: sign up through the API, read the code from the real
//! SMTP receiver, verify, log in.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Api, MailReceiver};

/// Tokens of a logged-in test user.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
}

impl LoggedIn {
    fn from_payload(email: &str, password: &str, payload: &Value) -> LoggedIn {
        LoggedIn {
            email: email.to_owned(),
            password: password.to_owned(),
            access_token: payload["accessToken"]
                .as_str()
                .expect("accessToken")
                .to_owned(),
            refresh_token: payload["refreshToken"]
                .as_str()
                .expect("refreshToken")
                .to_owned(),
            user_id: payload["user"]["id"].as_str().expect("user.id").to_owned(),
        }
    }
}

/// The first run of six digits in `text`.
pub fn find_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let window = &bytes[i..i + 6];
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_digit())
            && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit());
        (bounded && window.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8_lossy(window).into_owned())
    })
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

pub const SIGNUP: &str = "mutation($input: SignupInput!) { signup(input: $input) { user { id email emailVerified } message } }";
pub const VERIFY: &str = "mutation($email: String!, $otp: String!) { verifyEmail(email: $email, otp: $otp) { accessToken refreshToken expiresIn user { id email emailVerified } } }";
pub const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { accessToken refreshToken expiresIn user { id email role } } }";
pub const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken expiresIn user { id } } }";
pub const ME: &str = "{ me { id email name role plan emailVerified createdAt jobCount } }";

impl Api {
    /// `signup`; returns the whole response.
    pub async fn signup(&self, email: &str, password: &str, name: &str) -> Value {
        self.graphql(
            SIGNUP,
            json!({"input": {"email": email, "password": password, "name": name}}),
            None,
        )
        .await
    }

    /// `login`; returns the whole response.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        self.graphql(LOGIN, json!({"email": email, "password": password}), None)
            .await
    }

    /// Signs up, reads the code from the mail receiver, verifies and returns the session.
    pub async fn signup_verified(
        &self,
        mail: &MailReceiver,
        email: &str,
        password: &str,
    ) -> LoggedIn {
        let before = mail.to(email).len();
        let signup = self.signup(email, password, "Test User").await;
        assert!(signup["errors"].is_null(), "signup failed: {signup}");
        let message = mail
            .wait_for(email, before + 1, Duration::from_secs(10))
            .await;
        let code = find_code(&message.text()).expect("a code in the email");
        let verified = self
            .graphql(VERIFY, json!({"email": email, "otp": code}), None)
            .await;
        assert!(
            verified["errors"].is_null(),
            "verifyEmail failed: {verified}"
        );
        LoggedIn::from_payload(email, password, &verified["data"]["verifyEmail"])
    }

    /// Logs in an existing verified user.
    pub async fn login_ok(&self, email: &str, password: &str) -> LoggedIn {
        let response = self.login(email, password).await;
        assert!(response["errors"].is_null(), "login failed: {response}");
        LoggedIn::from_payload(email, password, &response["data"]["login"])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_as_whole_six_digit_runs() {
        assert_eq!(find_code("Your code is 012345."), Some("012345".into()));
        assert_eq!(find_code("id 1234567 then 654321"), Some("654321".into()));
        assert_eq!(find_code("none here 12345"), None);
    }
}
