//! The alerts API as the end-to-end tests call it: channels, jobs with a policy, their
//! runs and notices.

use std::time::Duration;

use serde_json::{Value, json};

use crate::accounts::LoggedIn;
use crate::target::{ReceivedRequest, Reply};
use crate::{Api, TestEnv, fixtures, job_api, poll_until};

pub const RUN: &str = "mutation($id: ID!) { runJob(id: $id) { id } }";
pub const CHANNELS: &str = "{ notificationChannels { id accountEmail } }";
pub const CREATE_CHANNEL: &str = "mutation($input: CreateNotificationChannelInput!) { createNotificationChannel(input: $input) { id verified } }";
pub const JOB: &str = "query($id: ID!) { job(id: $id) { status consecutiveFailures health pausedReason alertPolicy { channelIds failureThreshold notifyOnRecovery autoPauseAfter } } }";
pub const NOTICES: &str = "query($jobId: ID) { notifications(first: 100, jobId: $jobId) { edges { node { id kind status attempts message consecutiveFailures runId digestId lastError channel { id } job { id } } } } }";
pub const SECRET: &str = "{ signingSecret { current next } }";

pub fn ok(response: &Value) -> &Value {
    assert!(response["errors"].is_null(), "{response}");
    &response["data"]
}

/// A user's webhook channel on `path` of the target, and the id of the account email.
pub async fn channels(env: &TestEnv, api: &Api, who: &LoggedIn, path: &str) -> (String, String) {
    let token = Some(who.access_token.as_str());
    let created = api
        .graphql(
            CREATE_CHANNEL,
            json!({"input": {"type": "WEBHOOK", "name": "hook", "target": env.target.url(path)}}),
            token,
        )
        .await;
    let webhook = ok(&created)["createNotificationChannel"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = api.graphql(CHANNELS, json!({}), token).await;
    let email = ok(&listed)["notificationChannels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["accountEmail"] == true)
        .expect("the account email is a channel")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (webhook, email)
}

/// A job on `path` that runs only when asked, with no retries and `policy`.
pub async fn job(env: &TestEnv, api: &Api, who: &LoggedIn, path: &str, policy: Value) -> String {
    let mut input = job_api::job_input(env, path);
    input["targetUrl"] = json!(env.target.url(path));
    input["cronExpression"] = json!("0 0 1 1 *");
    input["alertPolicy"] = policy;
    let created = job_api::create(api, who, input).await;
    ok(&created)["createJob"]["id"].as_str().unwrap().to_owned()
}

/// Runs the job now and waits until it has `finished` finished runs.
pub async fn run(env: &TestEnv, api: &Api, who: &LoggedIn, id: &str, finished: usize) {
    let ran = api
        .graphql(RUN, json!({"id": id}), Some(&who.access_token))
        .await;
    ok(&ran);
    let job_id = id.parse().unwrap();
    poll_until(
        "the run to be recorded",
        Duration::from_secs(30),
        || async {
            let runs = fixtures::runs(&env.database, job_id).await;
            (runs.iter().filter(|r| r.finished_at.is_some()).count() >= finished).then_some(())
        },
    )
    .await;
}

pub async fn job_state(api: &Api, who: &LoggedIn, id: &str) -> Value {
    let answer = api
        .graphql(JOB, json!({"id": id}), Some(&who.access_token))
        .await;
    ok(&answer)["job"].clone()
}

pub async fn notices(api: &Api, who: &LoggedIn, job_id: Option<&str>) -> Vec<Value> {
    let answer = api
        .graphql(NOTICES, json!({"jobId": job_id}), Some(&who.access_token))
        .await;
    ok(&answer)["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Makes the target answer `status` on `path`.
pub fn answer(env: &TestEnv, path: &str, status: u16) {
    env.target.reply(
        path,
        Reply {
            status,
            ..Reply::default()
        },
    );
}

/// The JSON bodies of requests (webhook notices).
pub fn bodies(requests: &[ReceivedRequest]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect()
}
