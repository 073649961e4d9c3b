//! How a draft's policies and criteria are stored on the job row (JSON columns and
//! enum texts), and the check that an alert policy names only the caller's channels.

use db::models::NotificationChannel;
use scheduler::alerts::AlertPolicy;
use uuid::Uuid;

use crate::auth::tokens::Claims;
use crate::error::{ApiError, ApiResult};

pub(super) fn retry_json(retry: Option<&scheduler::retry::Stored>) -> Option<serde_json::Value> {
    retry.map(|r| serde_json::to_value(r).expect("retry policy serialises"))
}

pub(super) fn policy_json(policy: Option<&AlertPolicy>) -> Option<serde_json::Value> {
    policy.map(|p| serde_json::to_value(p).expect("policy serialises"))
}

/// Every channel a policy names is one of the viewer's (BAD_USER_INPUT otherwise).
/// Notices go to a channel once it is verified.
pub(super) async fn check_channels(
    conn: &mut db::AsyncPgConnection,
    viewer: &Claims,
    policy: Option<&AlertPolicy>,
) -> ApiResult<()> {
    let Some(policy) = policy else {
        return Ok(());
    };
    if policy.channel_ids.is_empty() {
        return Ok(());
    }
    let owned: Vec<Uuid> = NotificationChannel::of_user(conn, viewer.sub)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    match policy.channel_ids.iter().find(|id| !owned.contains(id)) {
        Some(id) => Err(ApiError::bad_input(
            "alertPolicy.channelIds",
            format!("no notification channel with id {id}"),
        )),
        None => Ok(()),
    }
}

pub(super) fn criteria_json(
    criteria: Option<&scheduler::criteria::SuccessCriteria>,
) -> Option<serde_json::Value> {
    criteria.map(|c| serde_json::to_value(c).expect("criteria serialise"))
}
