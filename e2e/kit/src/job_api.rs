//! The jobs and plans API as the end-to-end tests call it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::accounts::LoggedIn;
use crate::target::Reply;
use crate::{Api, TestEnv, fixtures, poll_until};

pub const CREATE: &str = "mutation($input: CreateJobInput!) { createJob(input: $input) { id name cronExpression timezone targetType targetUrl httpMethod headers body timeout maxRetries status nextRunAt lastRunAt lastStatus createdAt updatedAt owner { id email } logs(first: 5) { totalCount edges { node { id } } } } }";
pub const UPDATE: &str = "mutation($id: ID!, $input: UpdateJobInput!) { updateJob(id: $id, input: $input) { id name description cronExpression timezone headers body status nextRunAt timeout maxRetries } }";
pub const SET_PLAN: &str = "mutation($plan: Plan!) { updatePlan(plan: $plan) { plan } }";

pub async fn user(env: &TestEnv, api: &Api, name: &str) -> LoggedIn {
    api.signup_verified(&env.mail, &format!("{name}@example.com"), "Password123!")
        .await
}

/// A new verified user on the PRO plan (every-second schedules allowed).
pub async fn pro_user(env: &TestEnv, api: &Api, name: &str) -> LoggedIn {
    let who = user(env, api, name).await;
    let plan = api
        .graphql(SET_PLAN, json!({"plan": "PRO"}), Some(&who.access_token))
        .await;
    assert!(plan["errors"].is_null(), "{plan}");
    who
}

pub async fn create(api: &Api, who: &LoggedIn, input: Value) -> Value {
    api.graphql(CREATE, json!({ "input": input }), Some(&who.access_token))
        .await
}

pub async fn delete(api: &Api, who: &LoggedIn, id: &Value) -> Value {
    api.graphql(
        "mutation($id: ID!) { deleteJob(id: $id) }",
        json!({ "id": id }),
        Some(&who.access_token),
    )
    .await
}

pub fn job_input(env: &TestEnv, name: &str) -> Value {
    json!({"name": name, "cronExpression": "*/5 * * * *", "targetUrl": env.target.url("/hook")})
}

/// Creates a job on `path` (with `extra` fields merged into its input) that only runs
/// when asked, makes the target answer `reply`, runs it now, and returns its runs once
/// `attempts` of them have finished.
pub async fn run_once(
    env: &TestEnv,
    api: &Api,
    who: &LoggedIn,
    path: &str,
    reply: Reply,
    extra: Value,
    attempts: usize,
) -> Vec<db::models::ExecutionLog> {
    env.target.reply(path, reply);
    let mut input = job_input(env, path);
    input["targetUrl"] = json!(env.target.url(path));
    // Only the manual run: no slot of the schedule may fall within the test.
    input["cronExpression"] = json!("0 0 1 1 *");
    for (key, value) in extra.as_object().expect("fields to add") {
        input[key] = value.clone();
    }
    let created = create(api, who, input).await;
    assert!(created["errors"].is_null(), "{created}");
    let id = created["data"]["createJob"]["id"].clone();
    let ran = api
        .graphql(
            "mutation($id: ID!) { runJob(id: $id) { id } }",
            json!({"id": id}),
            Some(&who.access_token),
        )
        .await;
    assert!(ran["errors"].is_null(), "{ran}");
    let job_id = id.as_str().unwrap().parse().unwrap();
    poll_until("the runs to finish", Duration::from_secs(30), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        let finished = runs.iter().filter(|r| r.finished_at.is_some()).count();
        (finished >= attempts).then_some(runs)
    })
    .await
}

/// The times of a list answered at `pointer` (e.g. `/data/nextRuns`).
pub fn times(answer: &Value, pointer: &str) -> Vec<DateTime<Utc>> {
    answer
        .pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer}: {answer}"))
        .iter()
        .map(|t| t.as_str().expect("a time").parse().expect("RFC 3339"))
        .collect()
}
