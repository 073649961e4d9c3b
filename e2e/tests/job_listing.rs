//! Listing jobs and previewing their runs: stable pages while jobs are created, and
//! next runs across daylight-saving changes.

use std::collections::HashSet;

use serde_json::json;
use testkit::TestEnv;
use testkit::job_api::{SET_PLAN, create, job_input, user};

#[tokio::test]
async fn pagination_is_stable_while_jobs_are_created() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "pager").await;
    api.graphql(
        SET_PLAN,
        json!({"plan": "PREMIUM"}),
        Some(&ada.access_token),
    )
    .await;
    for i in 0..25 {
        let mut input = job_input(&env, &format!("job {i:02}"));
        if i % 5 == 0 {
            input["name"] = json!(format!("Nightly Backup {i}"));
        }
        assert!(create(api, &ada, input).await["errors"].is_null());
    }
    let page = |after: Option<String>| {
        let token = ada.access_token.clone();
        async move {
            api.graphql(
                "query($after: String) { jobs(first: 10, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name } } } }",
                json!({"after": after}),
                Some(&token),
            )
            .await
        }
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let response = page(after.clone()).await;
        let jobs = &response["data"]["jobs"];
        for edge in jobs["edges"].as_array().unwrap() {
            seen.push(edge["node"]["name"].as_str().unwrap().to_owned());
        }
        // New jobs appear at the top; the pages already handed out do not shift.
        assert!(create(api, &ada, job_input(&env, "newcomer")).await["errors"].is_null());
        if jobs["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = jobs["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let originals: Vec<_> = seen.iter().filter(|n| *n != "newcomer").cloned().collect();
    assert_eq!(originals.len(), 25, "{seen:?}");
    assert_eq!(
        originals.iter().collect::<HashSet<_>>().len(),
        25,
        "no job twice"
    );
    assert_eq!(
        originals.first().map(String::as_str),
        Some("job 24"),
        "newest first"
    );

    let search = api
        .graphql(
            "{ jobs(search: \"backup\") { totalCount edges { node { name } } } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(search["data"]["jobs"]["totalCount"], 5, "{search}");
    let wildcard = api
        .graphql(
            "{ jobs(search: \"%\") { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        wildcard["data"]["jobs"]["totalCount"], 0,
        "% is a character, not a wildcard"
    );
    let paused = api
        .graphql(
            "{ jobs(status: PAUSED) { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(paused["data"]["jobs"]["totalCount"], 0);
    let capped = api
        .graphql(
            "{ jobs(first: 1000) { edges { cursor } } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(
        capped["data"]["jobs"]["edges"].as_array().unwrap().len(),
        28,
        "all fit under the cap of 100"
    );
    let bad = api
        .graphql(
            "{ jobs(after: \"garbage\") { totalCount } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "after");
}

#[tokio::test]
async fn next_runs_previews_dst_changes() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let query = "query($c: String!, $tz: String, $n: Int, $after: DateTime) { nextRuns(cronExpression: $c, timezone: $tz, count: $n, after: $after) }";
    let spring = api
        .graphql(query, json!({"c": "30 2 * * *", "tz": "America/New_York", "n": 2, "after": "2026-03-07T12:00:00Z"}), None)
        .await;
    assert_eq!(
        spring["data"]["nextRuns"],
        json!(["2026-03-08T07:00:00+00:00", "2026-03-09T06:30:00+00:00"]),
        "{spring}"
    );
    let fall = api
        .graphql(query, json!({"c": "0 30 * * * *", "tz": "Europe/London", "n": 3, "after": "2026-10-24T23:45:00Z"}), None)
        .await;
    assert_eq!(
        fall["data"]["nextRuns"],
        json!([
            "2026-10-25T00:30:00+00:00",
            "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:30:00+00:00"
        ]),
        "01:30 BST and 01:30 GMT both run: {fall}"
    );
    let default = api
        .graphql("{ nextRuns(cronExpression: \"@daily\") }", json!({}), None)
        .await;
    assert_eq!(default["data"]["nextRuns"].as_array().unwrap().len(), 5);
    for (vars, field) in [
        (json!({"c": "nope", "n": 1}), "cronExpression"),
        (json!({"c": "* * * * *", "tz": "Nowhere/City"}), "timezone"),
        (json!({"c": "* * * * *", "n": 51}), "count"),
    ] {
        let response = api.graphql(query, vars, None).await;
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
}
