//! `systemStats`: the admin's numbers pushed at an interval over WebSocket, so a dashboard
//! on a wall shows queue depth and scheduler lag as they move without asking again and
//! again (each ask would count against the per-address limit).

use std::time::Duration;

use async_graphql::{Context, Result, Subscription};
use futures_util::Stream;

use super::admin::{SystemStats, system_stats};
use crate::auth::{self, account};
use crate::error::ApiError;
use crate::state::AppState;

/// The shortest and longest intervals, in seconds: each push costs what `adminStats` does.
const INTERVAL_SECONDS: std::ops::RangeInclusive<i32> = 2..=60;

#[derive(Default)]
pub struct SystemSubscription;

#[Subscription]
impl SystemSubscription {
    /// `adminStats` now, then every `intervalSeconds` (2 to 60) while subscribed. ADMIN only.
    #[graphql(complexity = "super::limits::REPORT_COST + child_complexity")]
    async fn system_stats(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(5)")] interval_seconds: Option<i32>,
    ) -> Result<impl Stream<Item = Result<SystemStats>> + use<>> {
        let viewer = auth::viewer(ctx)?.clone();
        let state = ctx.data_unchecked::<AppState>().clone();
        account::require_admin(&state, &viewer).await?;
        let seconds = interval_seconds.unwrap_or(5);
        if !INTERVAL_SECONDS.contains(&seconds) {
            return Err(ApiError::bad_input(
                "intervalSeconds",
                format!(
                    "must be from {} to {} seconds",
                    INTERVAL_SECONDS.start(),
                    INTERVAL_SECONDS.end()
                ),
            )
            .into());
        }
        let period = Duration::from_secs(u64::try_from(seconds).unwrap_or(5));
        Ok(async_stream::stream! {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                yield system_stats(&state).await;
            }
        })
    }
}
