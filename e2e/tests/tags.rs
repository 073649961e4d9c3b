//! Tags, bulk actions by tag (the caller's jobs only) and cloneJob.

use serde_json::{Value, json};
use testkit::accounts::{LoggedIn, error_code};
use testkit::{Api, TestEnv, job_api};

async fn tagged(api: &Api, env: &TestEnv, who: &LoggedIn, name: &str, tags: Value) -> Value {
    let mut input = job_api::job_input(env, name);
    input["tags"] = tags;
    let created = api
        .graphql(
            "mutation($input: CreateJobInput!) { createJob(input: $input) { id name tags status } }",
            json!({"input": input}),
            Some(&who.access_token),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    created["data"]["createJob"].clone()
}

async fn statuses(api: &Api, who: &LoggedIn, tag: Option<&str>) -> Vec<(String, String)> {
    let answer = api
        .graphql(
            "query($tag: String) { jobs(first: 50, tag: $tag) { edges { node { name status pauseNote } } } }",
            json!({"tag": tag}),
            Some(&who.access_token),
        )
        .await;
    let mut jobs: Vec<(String, String)> = answer["data"]["jobs"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|e| {
            (
                e["node"]["name"].as_str().unwrap().to_owned(),
                e["node"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    jobs.sort();
    jobs
}

#[tokio::test]
async fn bulk_actions_reach_the_callers_tagged_jobs_only() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::user(&env, api, "ann").await;
    let bob = job_api::user(&env, api, "bob").await;
    let first = tagged(api, &env, &ann, "a1", json!(["nightly", " eu ", "eu"])).await;
    assert_eq!(
        first["tags"],
        json!(["eu", "nightly"]),
        "trimmed, sorted, once each"
    );
    tagged(api, &env, &ann, "a2", json!(["nightly"])).await;
    tagged(api, &env, &ann, "a3", json!([])).await;
    tagged(api, &env, &bob, "b1", json!(["nightly"])).await;
    let bad = job_api::create(api, &ann, {
        let mut input = job_api::job_input(&env, "bad");
        input["tags"] = json!(["no spaces"]);
        input
    })
    .await;
    assert_eq!(bad["errors"][0]["extensions"]["field"], "tags", "{bad}");

    assert_eq!(
        statuses(api, &ann, Some("nightly")).await,
        [
            ("a1".into(), "ACTIVE".into()),
            ("a2".into(), "ACTIVE".into())
        ]
    );
    let token = Some(ann.access_token.as_str());
    let paused = api
        .graphql(
            "mutation { pauseJobs(tag: \"nightly\", note: \"maintenance\") }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(paused["data"]["pauseJobs"], 2, "{paused}");
    assert_eq!(
        statuses(api, &ann, None).await,
        [
            ("a1".into(), "PAUSED".into()),
            ("a2".into(), "PAUSED".into()),
            ("a3".into(), "ACTIVE".into())
        ]
    );
    assert_eq!(
        statuses(api, &bob, None).await,
        [("b1".into(), "ACTIVE".into())],
        "another user's job with the tag is untouched"
    );
    let resumed = api
        .graphql(
            "mutation { resumeJobs(tag: \"nightly\") }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(resumed["data"]["resumeJobs"], 2, "{resumed}");
    let job = api
        .graphql(
            "query($id: ID!) { job(id: $id) { status nextRunAt pauseNote } }",
            json!({"id": first["id"]}),
            token,
        )
        .await;
    assert_eq!(job["data"]["job"]["status"], "ACTIVE");
    assert!(job["data"]["job"]["nextRunAt"].is_string(), "{job}");
    assert!(job["data"]["job"]["pauseNote"].is_null());

    // A clone: the same job under a new name and id, within the plan's 5 jobs.
    let clone = "mutation($id: ID!) { cloneJob(id: $id) { id name tags status cronExpression } }";
    let cloned = api.graphql(clone, json!({"id": first["id"]}), token).await;
    let copy = &cloned["data"]["cloneJob"];
    assert_eq!(copy["name"], "a1 (copy)", "{cloned}");
    assert_eq!(
        (&copy["tags"], &copy["status"]),
        (&first["tags"], &json!("ACTIVE"))
    );
    assert_ne!(copy["id"], first["id"]);
    let again = api.graphql(clone, json!({"id": first["id"]}), token).await;
    let over = api.graphql(clone, json!({"id": first["id"]}), token).await;
    assert!(again["errors"].is_null(), "{again}");
    assert_eq!(error_code(&over), Some("PLAN_LIMIT_REACHED"), "{over}");
    let theirs = api
        .graphql(clone, json!({"id": first["id"]}), Some(&bob.access_token))
        .await;
    assert_eq!(error_code(&theirs), Some("NOT_FOUND"), "{theirs}");

    let deleted = api
        .graphql(
            "mutation { deleteJobs(tag: \"nightly\") }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(deleted["data"]["deleteJobs"], 4, "{deleted}");
    assert_eq!(
        statuses(api, &ann, None).await,
        [("a3".into(), "ACTIVE".into())]
    );
    assert_eq!(
        statuses(api, &bob, None).await,
        [("b1".into(), "ACTIVE".into())]
    );
    // An administrator filters everyone's jobs by tag.
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let everyone = api
        .graphql(
            "{ adminJobs(tag: \"nightly\") { totalCount edges { node { name } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(everyone["data"]["adminJobs"]["totalCount"], 1, "{everyone}");
    assert_eq!(
        everyone["data"]["adminJobs"]["edges"][0]["node"]["name"],
        "b1"
    );
    let blank = api
        .graphql("mutation { deleteJobs(tag: \" \") }", json!({}), token)
        .await;
    assert_eq!(blank["errors"][0]["extensions"]["field"], "tag", "{blank}");
}
