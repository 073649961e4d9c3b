//! `backfillJob`: past slots fired in order, each once with its own slot and execution
//! id, even when the scheduler firing them is killed mid-way; slots with a run already
//! are left out; the range is checked.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use testkit::{TestEnv, job_api};

const BACKFILL: &str = "mutation($id: ID!, $from: DateTime!, $to: DateTime!) { backfillJob(id: $id, from: $from, to: $to) { slots } }";

fn slots(answer: &serde_json::Value) -> Vec<DateTime<Utc>> {
    job_api::times(answer, "/data/backfillJob/slots")
}

#[tokio::test]
async fn backfilled_slots_fire_once_each_in_order_across_a_killed_scheduler() {
    let env = TestEnv::new().await;
    let api_server = env.start_api().await;
    let api = api_server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let token = Some(ann.access_token.as_str());
    // Every second, but paused: only the backfill fires.
    let mut input = job_api::job_input(&env, "past");
    input["cronExpression"] = json!("* * * * * *");
    input["targetUrl"] = json!(env.target.url("/past"));
    let created = job_api::create(api, &ann, input).await;
    let id = created["data"]["createJob"]["id"].clone();
    let paused = api
        .graphql(
            "mutation($id: ID!) { pauseJob(id: $id) { status } }",
            json!({"id": id}),
            token,
        )
        .await;
    assert_eq!(paused["data"]["pauseJob"]["status"], "PAUSED");

    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let (from, to) = (now - TimeDelta::seconds(60), now - TimeDelta::seconds(54));
    let queued = slots(
        &api.graphql(BACKFILL, json!({"id": id, "from": from, "to": to}), token)
            .await,
    );
    let expected: Vec<DateTime<Utc>> = (0..6).map(|s| from + TimeDelta::seconds(s)).collect();
    assert_eq!(queued, expected);

    // The first instance dies after two; another fires the rest.
    let mut first = env.start_scheduler();
    env.target
        .wait_for("/past", 2, Duration::from_secs(20))
        .await;
    first.kill();
    let mut second = env.start_scheduler();
    env.target
        .wait_for("/past", 6, Duration::from_secs(30))
        .await;
    // Nothing more comes (every slot was sent once).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = env.target.received_on("/past");
    let slots_sent: Vec<DateTime<Utc>> = received
        .iter()
        .map(|r| {
            r.headers["x-cronops-scheduled-for"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let mut per_slot: HashMap<DateTime<Utc>, usize> = HashMap::new();
    for slot in &slots_sent {
        *per_slot.entry(*slot).or_default() += 1;
    }
    assert!(per_slot.values().all(|n| *n == 1), "{slots_sent:?}");
    let mut sorted = slots_sent.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert!(env.target.deliveries("/past").values().all(|n| *n == 1));
    let logs = api
        .graphql(
            "query($id: ID!) { executionLogs(jobId: $id, first: 20) { edges { node { trigger } } } }",
            json!({"id": id}),
            token,
        )
        .await;
    let triggers: Vec<&str> = logs["data"]["executionLogs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers.len(), 6, "{logs}");
    assert!(triggers.iter().all(|t| *t == "BACKFILL"), "{logs}");

    // Again over a wider range: only the slots without a run are queued.
    let wider = slots(
        &api.graphql(
            BACKFILL,
            json!({"id": id, "from": from, "to": to + TimeDelta::seconds(2)}),
            token,
        )
        .await,
    );
    assert_eq!(wider, [to, to + TimeDelta::seconds(1)]);
    second.kill();

    // A range the wrong way round, in the future, or too long: BAD_USER_INPUT.
    for (from, to, field) in [
        (now, now - TimeDelta::seconds(5), "to"),
        (
            now - TimeDelta::seconds(5),
            now + TimeDelta::seconds(60),
            "to",
        ),
        (now - TimeDelta::hours(1), now, "from"),
    ] {
        let refused = api
            .graphql(BACKFILL, json!({"id": id, "from": from, "to": to}), token)
            .await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], field,
            "{refused}"
        );
    }
}
