//! `H` in cron fields: each job gets its own stable values, shown by `nextRuns(jobId)` and
//! `nextRunAt`, and the scheduler fires at them.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde_json::json;
use testkit::{TestEnv, fixtures, job_api, poll_until};

const NEXT: &str =
    "query($e: String!, $id: ID) { nextRuns(cronExpression: $e, count: 3, jobId: $id) }";

fn times(answer: &serde_json::Value) -> Vec<DateTime<Utc>> {
    job_api::times(answer, "/data/nextRuns")
}

#[tokio::test]
async fn h_gives_each_job_its_own_stable_times_and_the_scheduler_keeps_them() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let token = Some(ann.access_token.as_str());

    // Hourly jobs written `H * * * *` spread over the hour, each at its own minute.
    let mut minutes = HashSet::new();
    for n in 0..5 {
        let mut input = job_api::job_input(&env, &format!("hourly {n}"));
        input["cronExpression"] = json!("H * * * *");
        let created = job_api::create(api, &ann, input).await;
        let job = &created["data"]["createJob"];
        let next: DateTime<Utc> = job["nextRunAt"].as_str().unwrap().parse().unwrap();
        let previewed = times(
            &api.graphql(NEXT, json!({"e": "H * * * *", "id": job["id"]}), token)
                .await,
        );
        assert_eq!(
            previewed[0], next,
            "nextRuns(jobId) shows the job's own times"
        );
        assert_eq!(previewed[1] - previewed[0], chrono::Duration::hours(1));
        minutes.insert(next.minute());
    }
    assert!(minutes.len() > 1, "five jobs, one minute: {minutes:?}");

    // Every 10 s from the job's own offset (H(a-b)/n bounds the whole field, as in Jenkins): the runs fall on the times nextRuns gave.
    let mut input = job_api::job_input(&env, "tens");
    input["cronExpression"] = json!("H/10 * * * * *");
    input["targetUrl"] = json!(env.target.url("/tens"));
    let created = job_api::create(api, &ann, input).await;
    assert!(created["errors"].is_null(), "{created}");
    let id = created["data"]["createJob"]["id"].clone();
    let offset = times(
        &api.graphql(NEXT, json!({"e": "H/10 * * * * *", "id": id}), token)
            .await,
    )[0]
    .second()
        % 10;
    let job_id = id.as_str().unwrap().parse().unwrap();
    let runs = poll_until("two runs of the job", Duration::from_secs(40), || async {
        let runs = fixtures::runs(&env.database, job_id).await;
        (runs.iter().filter(|r| r.finished_at.is_some()).count() >= 2).then_some(runs)
    })
    .await;
    for run in &runs {
        assert_eq!(run.scheduled_for.second() % 10, offset, "{run:?}");
        assert_eq!(run.scheduled_for.nanosecond(), 0);
    }

    // Malformed H forms are refused with the field.
    let mut input = job_api::job_input(&env, "bad");
    input["cronExpression"] = json!("H(50-70) * * * *");
    let refused = job_api::create(api, &ann, input).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "cronExpression",
        "{refused}"
    );
}
