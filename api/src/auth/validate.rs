//! Input rules for accounts, each failure a BAD_USER_INPUT naming the field.

use std::str::FromStr;

use crate::error::{ApiError, ApiResult};

/// The stored form of a valid email address: trimmed, lower-cased.
pub fn email(field: &str, raw: &str) -> ApiResult<String> {
    let normalized = db::models::user::normalize_email(raw);
    if normalized.len() > 254 {
        return Err(ApiError::bad_input(field, "must be at most 254 characters"));
    }
    let valid = lettre::Address::from_str(&normalized)
        .ok()
        .is_some_and(|address| address.domain().contains('.'));
    if !valid {
        return Err(ApiError::bad_input(
            field,
            "must be an email address like name@example.com",
        ));
    }
    Ok(normalized)
}

/// 8 to 128 characters with at least one letter and one digit.
pub fn password(field: &str, raw: &str) -> ApiResult<()> {
    let length = raw.chars().count();
    if !(8..=128).contains(&length) {
        return Err(ApiError::bad_input(
            field,
            "must be 8 to 128 characters long",
        ));
    }
    if !raw.chars().any(char::is_alphabetic) || !raw.chars().any(|c| c.is_ascii_digit()) {
        return Err(ApiError::bad_input(
            field,
            "must contain at least one letter and one digit",
        ));
    }
    Ok(())
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub fn name(field: &str, raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if !(1..=100).contains(&length) {
        return Err(ApiError::bad_input(
            field,
            "must be 1 to 100 characters long",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A 6-digit code as typed (blanks around it forgiven).
pub fn otp(field: &str, raw: &str) -> ApiResult<String> {
    let code = raw.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_input(
            field,
            "must be the 6-digit code from the email",
        ));
    }
    Ok(code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: ApiResult<impl std::fmt::Debug>) -> Option<String> {
        match result {
            Err(ApiError::BadUserInput { field, .. }) => field,
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            email("email", "  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
        ] {
            assert_eq!(
                field_of(email("email", bad)),
                Some("email".into()),
                "{bad:?}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email("email", &long).is_err());
    }

    #[test]
    fn passwords_need_length_a_letter_and_a_digit() {
        assert!(password("password", "Password1").is_ok());
        assert!(password("password", "pässwörd1").is_ok());
        for bad in ["Pass1", "password", "12345678", &"a1".repeat(65)] {
            assert_eq!(
                field_of(password("password", bad)),
                Some("password".into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn names_and_codes() {
        assert_eq!(name("name", "  Ada  ").unwrap(), "Ada");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert_eq!(otp("otp", " 012345 ").unwrap(), "012345");
        for bad in ["12345", "1234567", "12a456", "１２３４５６"] {
            assert!(otp("otp", bad).is_err(), "{bad:?}");
        }
    }
}
