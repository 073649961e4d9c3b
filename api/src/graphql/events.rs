//! `executionEvents`: runs as they start and finish, streamed over WebSocket.

use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use futures_util::Stream;
use uuid::Uuid;

use super::admin::parse_id;
use super::execution_log::{Body, ExecutionLog};
use crate::auth::{self, account};
use crate::events::{CAPACITY, Ended, EventHub, HubMessage};
use crate::state::AppState;

/// What happened to a run.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "scheduler::events::EventKind")]
pub enum ExecutionEventType {
    /// The request is going out.
    Started,
    /// It answered 2xx.
    Succeeded,
    /// It failed and will not be retried.
    Failed,
    /// It failed; another attempt is queued.
    Retrying,
}

/// One event: its kind and the run as it stands.
#[derive(SimpleObject, Debug)]
pub struct ExecutionEvent {
    #[graphql(name = "type")]
    pub kind: ExecutionEventType,
    pub log: ExecutionLog,
}

#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// The caller's runs (one job's with `jobId`, else all the caller's jobs); with
    /// `allUsers: true`, every user's (ADMIN only).
    async fn execution_events(
        &self,
        ctx: &Context<'_>,
        job_id: Option<ID>,
        #[graphql(default_with = "Some(false)")] all_users: Option<bool>,
    ) -> Result<impl Stream<Item = Result<ExecutionEvent>> + use<>> {
        let viewer = auth::viewer(ctx)?.clone();
        let state = ctx.data_unchecked::<AppState>();
        let all_users = all_users.unwrap_or(false);
        if all_users {
            account::require_admin(state, &viewer).await?;
        }
        let job: Option<Uuid> = match job_id {
            Some(id) => Some(
                crate::jobs::owned(state, &viewer, parse_id(&id, "job")?)
                    .await?
                    .id,
            ),
            None => None,
        };
        let mut events = ctx
            .data_unchecked::<EventHub>()
            .subscribe(viewer.sub, all_users);
        metrics::gauge!("cronops_subscriptions").increment(1.0);
        let guard = SubscriberGauge;
        Ok(async_stream::stream! {
            let _guard = guard;
            loop {
                match events.recv().await {
                    // The hub delivers only this viewer's deletion and, unless watching
                    // everyone, only their runs.
                    Ok(HubMessage::UserDeleted(_)) => {
                        yield Err(async_graphql::Error::new("this account was deleted"));
                        break;
                    }
                    Ok(HubMessage::Event(event)) => {
                        let log = &event.log;
                        if job.is_some_and(|j| j != log.job_id) {
                            continue;
                        }
                        yield Ok(ExecutionEvent {
                            kind: event.kind.into(),
                            log: ExecutionLog(
                                log.clone().into_row(),
                                if event.body_left_out { Body::LeftOut } else { Body::InRow },
                            ),
                        });
                    }
                    Err(Ended::Lagged) => {
                        yield Err(async_graphql::Error::new(format!(
                            "this subscription fell more than {CAPACITY} events behind and was stopped; subscribe again"
                        )));
                        break;
                    }
                    Err(Ended::Closed) => break,
                }
            }
        })
    }
}

/// Counts open subscriptions for `/metrics`.
struct SubscriberGauge;

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        metrics::gauge!("cronops_subscriptions").decrement(1.0);
    }
}
