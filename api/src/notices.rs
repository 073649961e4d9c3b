//! Notices seen from the API: the list, test notices, and the signing secret webhook
//! notices are signed with. Delivery is [`crate::notify`]'s.

use std::time::Duration;

use db::models::notification::Alert;
use db::models::{Notification, NotificationChannel, SigningSecret};
use serde_json::json;
use uuid::Uuid;

use crate::auth::limits;
use crate::auth::rate_limit::Limit;
use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};
use crate::graphql::connection::{Page, PageRequest};
use crate::state::AppState;

/// Test notices a user may send.
const TESTS_PER_USER: Limit = Limit {
    name: "notification-test",
    max: 10,
    window: Duration::from_secs(3600),
};

/// `notifications`: one page of the viewer's notices, of one job if asked.
pub async fn page(
    state: &AppState,
    viewer: &Claims,
    job_id: Option<Uuid>,
    request: PageRequest,
) -> ApiResult<Page<Notification>> {
    let mut conn = state.conn().await?;
    let rows = Notification::page_of_user(
        &mut conn,
        viewer.sub,
        job_id,
        request.after,
        request.limit(),
    )
    .await?;
    Ok(request.page(rows))
}

/// `testNotificationChannel`: a TEST notice to one of the viewer's verified channels,
/// delivered like any other (it does not count against the hourly cap of alerts).
pub async fn test(state: &AppState, viewer: &Claims, channel_id: Uuid) -> ApiResult<Notification> {
    let not_found = || ApiError::NotFound(format!("no notification channel with id {channel_id}"));
    let mut conn = state.conn().await?;
    let channel = NotificationChannel::find(&mut conn, channel_id)
        .await?
        .filter(|c| c.user_id == viewer.sub)
        .ok_or_else(not_found)?;
    if channel.verified_at.is_none() {
        return Err(ApiError::bad_input(
            "id",
            "the channel is not verified yet: open the link mailed to it first",
        ));
    }
    drop(conn);
    limits::check(state, TESTS_PER_USER, &viewer.sub.to_string()).await?;
    let content = json!({});
    let mut conn = state.conn().await?;
    let raised = Notification::raise(
        &mut conn,
        &[Alert {
            user_id: viewer.sub,
            job_id: None,
            run_id: None,
            kind: "TEST",
            content: &content,
            channel_ids: &[channel_id],
        }],
        None,
    )
    .await?;
    raised.into_iter().next().ok_or_else(not_found)
}

/// `signingSecret`: the viewer's, made on first use.
pub async fn signing_secret(state: &AppState, viewer: &Claims) -> ApiResult<SigningSecret> {
    // What signs requests is not for scripts to read: a leaked key would leak it.
    crate::auth::api_keys::require_session(viewer)?;
    let mut conn = state.conn().await?;
    Ok(SigningSecret::of_user(&mut conn, viewer.sub, scheduler::signing::new_secret).await?)
}

/// `rotateSigningSecret`: `next` becomes `current`, and a new `next` is made. Requests
/// and notices sent from then on are signed with both.
pub async fn rotate_signing_secret(state: &AppState, viewer: &Claims) -> ApiResult<SigningSecret> {
    crate::auth::api_keys::require_session(viewer)?;
    let mut conn = state.conn().await?;
    Ok(SigningSecret::rotate(&mut conn, viewer.sub, scheduler::signing::new_secret).await?)
}
