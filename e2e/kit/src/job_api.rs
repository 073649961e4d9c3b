//! The jobs and plans API as the end-to-end tests call it.

use serde_json::{Value, json};

use crate::accounts::LoggedIn;
use crate::{Api, TestEnv};

pub const CREATE: &str = "mutation($input: CreateJobInput!) { createJob(input: $input) { id name cronExpression timezone targetType targetUrl httpMethod headers body timeout maxRetries status nextRunAt lastRunAt lastStatus createdAt updatedAt owner { id email } logs(first: 5) { totalCount edges { node { id } } } } }";
pub const UPDATE: &str = "mutation($id: ID!, $input: UpdateJobInput!) { updateJob(id: $id, input: $input) { id name description cronExpression timezone headers body status nextRunAt timeout maxRetries } }";
pub const SET_PLAN: &str = "mutation($plan: Plan!) { updatePlan(plan: $plan) { plan } }";

pub async fn user(env: &TestEnv, api: &Api, name: &str) -> LoggedIn {
    api.signup_verified(&env.mail, &format!("{name}@example.com"), "Password123!")
        .await
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
