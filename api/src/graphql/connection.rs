//! Relay connections, one way for every list: newest first, keyset cursors, `first`
//! capped at 100. A list reads its [`PageRequest`], fetches [`PageRequest::limit`] rows
//! (one more than the page: its presence says another page follows), and turns the
//! [`Page`] into edges.

use async_graphql::{OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::execution_log::ExecutionLog;
use super::job::Job;
use super::user::User;
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

/// One row of a page and its cursor (as `after`, it asks for the rows after this one).
#[derive(SimpleObject, Debug)]
#[graphql(concrete(name = "JobEdge", params(Job)))]
#[graphql(concrete(name = "ExecutionLogEdge", params(ExecutionLog)))]
#[graphql(concrete(name = "UserEdge", params(User)))]
#[graphql(concrete(name = "NotificationEdge", params(super::alerts::Notification)))]
pub struct Edge<N: OutputType> {
    pub cursor: String,
    pub node: N,
}

/// A row listed newest first by a time and its id: its place in the list.
pub trait Listed {
    fn position(&self) -> (DateTime<Utc>, Uuid);
}

impl Listed for db::models::Job {
    fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

impl Listed for db::models::ExecutionLog {
    fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.started_at, self.id)
    }
}

impl Listed for db::models::User {
    fn position(&self) -> (DateTime<Utc>, Uuid) {
        (self.created_at, self.id)
    }
}

/// The page a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows on the page: `first` within 0..=100 (larger values are capped).
    pub size: i64,
    /// The position after which the page starts.
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

impl PageRequest {
    /// Reads `first` (default 20; negative is BAD_USER_INPUT) and `after` (a cursor from
    /// this list, else BAD_USER_INPUT).
    pub fn read(first: Option<i32>, after: Option<&str>) -> ApiResult<PageRequest> {
        let size = match first.unwrap_or(20) {
            n if n < 0 => return Err(ApiError::bad_input("first", "must not be negative")),
            n => i64::from(n.min(MAX_FIRST)),
        };
        Ok(PageRequest {
            size,
            after: decode_cursor(after)?,
        })
    }

    /// How many rows to fetch.
    pub fn limit(&self) -> i64 {
        self.size + 1
    }

    /// The page of rows fetched with [`Self::limit`].
    pub fn page<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let has_next = rows.len() as i64 > self.size;
        rows.truncate(usize::try_from(self.size).unwrap_or(0));
        Page { rows, has_next }
    }
}

/// One page of rows, and whether another follows.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
}

impl<T: Listed> Page<T> {
    /// Its edges (`node` makes each row's node) and where the page stands.
    pub fn edges<N: OutputType>(self, node: impl Fn(T) -> N) -> (Vec<Edge<N>>, PageInfo) {
        let edges: Vec<Edge<N>> = self
            .rows
            .into_iter()
            .map(|row| {
                let (at, id) = row.position();
                Edge {
                    cursor: encode_cursor(at, id),
                    node: node(row),
                }
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: self.has_next,
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        (edges, page_info)
    }
}

/// A keyset position: the row's sort time and id. Stable while rows are inserted.
fn encode_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", at.timestamp_micros()))
}

/// Reads a cursor from `after`; a malformed one is BAD_USER_INPUT.
fn decode_cursor(cursor: Option<&str>) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
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
        let size = |first| PageRequest::read(first, None).map(|r| r.size);
        assert_eq!(size(Some(500)).unwrap(), 100);
        assert_eq!(size(None).unwrap(), 20);
        assert!(size(Some(-1)).is_err());
    }

    #[test]
    fn a_page_is_fetched_with_one_row_more_than_it_shows() {
        let request = PageRequest::read(Some(2), None).unwrap();
        assert_eq!(request.limit(), 3);
        let full = request.page(vec![1, 2, 3]);
        assert_eq!((full.rows, full.has_next), (vec![1, 2], true));
        let last = request.page(vec![1, 2]);
        assert_eq!((last.rows, last.has_next), (vec![1, 2], false));
        let empty = PageRequest::read(Some(0), None).unwrap().page(vec![1]);
        assert_eq!((empty.rows, empty.has_next), (vec![], true));
    }
}
