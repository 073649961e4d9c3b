//! Relay connections: newest first, keyset cursors, `first` capped at 100.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// Largest page.
pub const MAX_FIRST: i32 = 100;

/// Where a page stands.
#[derive(SimpleObject, Debug, Clone)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Pass as `after` to get the next page.
    pub end_cursor: Option<String>,
}

/// A keyset position: the row's sort time and id. Stable while rows are inserted.
pub fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.timestamp_micros()))
}

/// Reads a cursor from `after`; a malformed one is BAD_USER_INPUT.
pub fn decode_cursor(cursor: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || ApiError::bad_input("after", "is not a cursor from this list");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?)
        .ok_or_else(invalid)?;
    Ok(Some((at, id.parse().map_err(|_| invalid())?)))
}

/// What a page may cost: its selection once for each row it may hold (`first`, or the
/// default 20; at most [`MAX_FIRST`]).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.unwrap_or(20).clamp(1, MAX_FIRST) as usize;
    rows.saturating_mul(child_complexity).saturating_add(1)
}

/// `first` within 0..=100 (larger values are capped, negative ones refused).
pub fn page_size(first: Option<i32>) -> ApiResult<i64> {
    match first.unwrap_or(20) {
        n if n < 0 => Err(ApiError::bad_input("first", "must not be negative")),
        n => Ok(i64::from(n.min(MAX_FIRST))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let id = Uuid::new_v4();
        assert_eq!(
            decode_cursor(Some(&encode_cursor(at, id))).unwrap(),
            Some((at, id))
        );
        assert_eq!(decode_cursor(None).unwrap(), None);
        for bad in ["", "!!", "bm90OmFjdXJzb3I"] {
            assert!(decode_cursor(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(page_size(Some(500)).unwrap(), 100);
        assert_eq!(page_size(None).unwrap(), 20);
        assert!(page_size(Some(-1)).is_err());
    }
}
