//! Success criteria: what a job's answer must be for its run to count as a success.
//!
//! Without criteria a run succeeds on any 2xx. With them, every criterion set must hold:
//! the status among `statusCodes` (exact codes, ranges `200-299`, classes `2xx`), the body
//! containing or not containing a text, a value at a JSON path equal to a given value,
//! and the duration within a bound. A run that misses one fails, its error naming it.
//!
//! Nothing a user writes can be slow: texts and values are bounded when saved, the body
//! read is at most 64 KiB (what the run keeps), a path has at most 32 steps and is walked
//! once, and a body is parsed as JSON only for a path, at most once.

use serde::{Deserialize, Serialize};

/// Most status patterns a job may list.
pub const MAX_STATUS_PATTERNS: usize = 20;
/// Longest `bodyContains` / `bodyNotContains` text, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;
/// Longest JSON path, in bytes, and most steps in it.
pub const MAX_PATH_BYTES: usize = 256;
pub const MAX_PATH_STEPS: usize = 32;
/// Largest `jsonEquals` value, serialised.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A job's criteria as stored (the `success_criteria` column) and as the API shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_codes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_not_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_equals: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_ms: Option<i32>,
}

/// A criterion that is not well formed: the input field to blame and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// One accepted status: `low..=high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatusRange(u16, u16);

impl StatusRange {
    fn parse(pattern: &str) -> Option<StatusRange> {
        let pattern = pattern.trim();
        let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
        if let Some(class) = pattern
            .strip_suffix("xx")
            .or_else(|| pattern.strip_suffix("XX"))
        {
            let digit = class.parse::<u16>().ok().filter(|d| (1..=5).contains(d))?;
            return Some(StatusRange(digit * 100, digit * 100 + 99));
        }
        if let Some((low, high)) = pattern.split_once('-') {
            let (low, high) = (code(low.trim())?, code(high.trim())?);
            return (low <= high).then_some(StatusRange(low, high));
        }
        code(pattern).map(|c| StatusRange(c, c))
    }
}

/// One step of a JSON path: a member or an index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Index(usize),
}

/// Reads `$.a.b[0].c` (the leading `$` and `.` optional; members are letters, digits,
/// `_` and `-`, or any text in `["..."]`).
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("must be at most {MAX_PATH_BYTES} bytes"));
    }
    let mut rest = path.trim();
    rest = rest.strip_prefix('$').unwrap_or(rest);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if steps.len() == MAX_PATH_STEPS {
            return Err(format!("must have at most {MAX_PATH_STEPS} steps"));
        }
        if let Some(after) = rest.strip_prefix("[\"") {
            let end = after.find("\"]").ok_or("a [\"member\"] is not closed")?;
            steps.push(Step::Member(after[..end].to_owned()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or("an [index] is not closed")?;
            let index = after[..end]
                .trim()
                .parse()
                .map_err(|_| format!("[{}] is not an index", &after[..end]))?;
            steps.push(Step::Index(index));
            rest = &after[end + 1..];
        } else {
            let after = rest.strip_prefix('.').unwrap_or(rest);
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            if end == 0 {
                return Err(format!(
                    "cannot read {:?}: use $.member, [0] or [\"member\"]",
                    after
                ));
            }
            steps.push(Step::Member(after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    if steps.is_empty() {
        return Err("names no value: use e.g. $.status or $.items[0].ok".to_owned());
    }
    Ok(steps)
}

impl SuccessCriteria {
    /// A job's stored criteria; `None` for the default (any 2xx). Read by reference, as
    /// the scheduler reads them for each run of such a job. A value that does not read
    /// (which validation prevents) counts as the default, and is logged.
    pub fn of_job(job: &db::models::Job) -> Option<SuccessCriteria> {
        let stored = job.success_criteria.as_ref()?;
        SuccessCriteria::deserialize(stored)
            .inspect_err(|e| {
                tracing::warn!(job_id = %job.id, error = %e, "unreadable success criteria; any 2xx succeeds");
            })
            .ok()
    }

    /// Checks what a user wrote and normalises it (trimmed patterns). `max_duration_ms`
    /// must not exceed the job's timeout.
    pub fn validate(&mut self, timeout_ms: i64) -> Result<(), Invalid> {
        if let Some(patterns) = &mut self.status_codes {
            if patterns.is_empty() || patterns.len() > MAX_STATUS_PATTERNS {
                return Err(invalid(
                    "statusCodes",
                    format!("must list 1 to {MAX_STATUS_PATTERNS} codes, ranges or classes"),
                ));
            }
            for pattern in patterns.iter_mut() {
                if StatusRange::parse(pattern).is_none() {
                    return Err(invalid(
                        "statusCodes",
                        format!(
                            "{pattern:?} is not a status (200), a range (200-299) or a class (2xx)"
                        ),
                    ));
                }
                *pattern = pattern.trim().to_ascii_lowercase();
            }
        }
        for (field, text) in [
            ("bodyContains", &self.body_contains),
            ("bodyNotContains", &self.body_not_contains),
        ] {
            if let Some(text) = text
                && (text.is_empty() || text.len() > MAX_TEXT_BYTES)
            {
                return Err(invalid(
                    field,
                    format!("must be 1 to {MAX_TEXT_BYTES} bytes"),
                ));
            }
        }
        match (&self.json_path, &self.json_equals) {
            (Some(path), Some(value)) => {
                parse_path(path).map_err(|e| invalid("jsonPath", e))?;
                if value.to_string().len() > MAX_VALUE_BYTES {
                    return Err(invalid(
                        "jsonEquals",
                        format!("must be at most {MAX_VALUE_BYTES} bytes as JSON"),
                    ));
                }
            }
            (Some(_), None) => return Err(invalid("jsonEquals", "is needed with jsonPath")),
            (None, Some(_)) => return Err(invalid("jsonPath", "is needed with jsonEquals")),
            (None, None) => {}
        }
        if let Some(max) = self.max_duration_ms
            && !(1..=timeout_ms).contains(&i64::from(max))
        {
            return Err(invalid(
                "maxDurationMs",
                format!("must be 1 to the job's timeout ({timeout_ms} ms)"),
            ));
        }
        Ok(())
    }

    /// Whether any criterion differs from the default (any 2xx).
    pub fn is_default(&self) -> bool {
        *self == SuccessCriteria::default()
    }

    /// Why a finished request misses the criteria, if it does. `body` is what the run
    /// keeps of it.
    pub fn check(&self, status: u16, body: &str, duration_ms: i32) -> Result<(), String> {
        match &self.status_codes {
            Some(patterns) => {
                let accepted = patterns
                    .iter()
                    .filter_map(|p| StatusRange::parse(p))
                    .any(|StatusRange(low, high)| (low..=high).contains(&status));
                if !accepted {
                    return Err(format!(
                        "expected status {}, got {status}",
                        patterns.join(" or ")
                    ));
                }
            }
            None if !(200..300).contains(&status) => {
                return Err(format!("expected status 2xx, got {status}"));
            }
            None => {}
        }
        if let Some(max) = self.max_duration_ms
            && duration_ms > max
        {
            return Err(format!("took {duration_ms} ms, over the {max} ms allowed"));
        }
        if let Some(text) = &self.body_contains
            && !body.contains(text.as_str())
        {
            return Err(format!("body does not contain {text:?}"));
        }
        if let Some(text) = &self.body_not_contains
            && body.contains(text.as_str())
        {
            return Err(format!("body contains {text:?}"));
        }
        if let (Some(path), Some(expected)) = (&self.json_path, &self.json_equals) {
            let steps = parse_path(path).map_err(|e| format!("jsonPath {e}"))?;
            let document: serde_json::Value =
                serde_json::from_str(body).map_err(|_| "body is not JSON".to_owned())?;
            let mut value = &document;
            for step in &steps {
                let next = match step {
                    Step::Member(name) => value.get(name.as_str()),
                    Step::Index(index) => value.get(*index),
                };
                value = next.ok_or_else(|| format!("{path} is not in the body"))?;
            }
            if value != expected {
                return Err(format!("{path} is {value}, expected {expected}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn criteria(value: serde_json::Value) -> SuccessCriteria {
        let mut c: SuccessCriteria = serde_json::from_value(value).unwrap();
        c.validate(10_000).unwrap();
        c
    }

    #[test]
    fn statuses_are_codes_ranges_and_classes() {
        let c = criteria(json!({"statusCodes": ["200", "301-302", "4XX"]}));
        assert_eq!(c.check(200, "", 1), Ok(()));
        assert_eq!(c.check(302, "", 1), Ok(()));
        assert_eq!(c.check(404, "", 1), Ok(()));
        assert_eq!(
            c.check(503, "", 1),
            Err("expected status 200 or 301-302 or 4xx, got 503".into())
        );
        let default = SuccessCriteria::default();
        assert_eq!(default.check(204, "", 1), Ok(()));
        assert_eq!(
            default.check(503, "", 1),
            Err("expected status 2xx, got 503".into())
        );
    }

    #[test]
    fn bodies_durations_and_json_values() {
        let c = criteria(json!({"bodyContains": "ok", "bodyNotContains": "error"}));
        assert_eq!(c.check(200, "all ok", 1), Ok(()));
        assert_eq!(
            c.check(200, "fine", 1),
            Err("body does not contain \"ok\"".into())
        );
        assert_eq!(
            c.check(200, "ok, error", 1),
            Err("body contains \"error\"".into())
        );
        let c = criteria(json!({"maxDurationMs": 100}));
        assert_eq!(
            c.check(200, "", 150),
            Err("took 150 ms, over the 100 ms allowed".into())
        );
        let c = criteria(json!({"jsonPath": "$.result.items[1][\"is ok\"]", "jsonEquals": true}));
        let body = r#"{"result": {"items": [{}, {"is ok": true}]}}"#;
        assert_eq!(c.check(200, body, 1), Ok(()));
        assert_eq!(
            c.check(200, r#"{"result": {"items": [{}, {"is ok": false}]}}"#, 1),
            Err("$.result.items[1][\"is ok\"] is false, expected true".into())
        );
        assert_eq!(c.check(200, "<html>", 1), Err("body is not JSON".into()));
        assert_eq!(
            c.check(200, "{}", 1),
            Err("$.result.items[1][\"is ok\"] is not in the body".into())
        );
    }

    #[test]
    fn what_a_user_writes_is_checked_when_saved() {
        let field = |value: serde_json::Value| {
            let mut c: SuccessCriteria = serde_json::from_value(value).unwrap();
            c.validate(5_000).unwrap_err().field
        };
        assert_eq!(field(json!({"statusCodes": []})), "statusCodes");
        assert_eq!(field(json!({"statusCodes": ["600"]})), "statusCodes");
        assert_eq!(field(json!({"statusCodes": ["299-200"]})), "statusCodes");
        assert_eq!(field(json!({"statusCodes": ["6xx"]})), "statusCodes");
        assert_eq!(field(json!({"bodyContains": ""})), "bodyContains");
        assert_eq!(
            field(json!({"bodyNotContains": "x".repeat(2000)})),
            "bodyNotContains"
        );
        assert_eq!(field(json!({"jsonPath": "$.a"})), "jsonEquals");
        assert_eq!(field(json!({"jsonEquals": 1})), "jsonPath");
        assert_eq!(
            field(json!({"jsonPath": "$.a[", "jsonEquals": 1})),
            "jsonPath"
        );
        assert_eq!(field(json!({"jsonPath": "$", "jsonEquals": 1})), "jsonPath");
        let deep = format!("${}", ".a".repeat(40));
        assert_eq!(
            field(json!({"jsonPath": deep, "jsonEquals": 1})),
            "jsonPath"
        );
        assert_eq!(field(json!({"maxDurationMs": 6_000})), "maxDurationMs");
    }
}
