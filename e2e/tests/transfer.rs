//! exportJobs and importJobs: export, delete, import restores the same jobs; an invalid
//! import (or a dry run) changes nothing and lists each problem with its entry and field.

use serde_json::{Value, json};
use testkit::accounts::LoggedIn;
use testkit::{Api, TestEnv, job_api};

const EXPORT: &str = "query($tag: String) { exportJobs(tag: $tag) }";
const IMPORT: &str = "mutation($d: JSON!, $dry: Boolean) { importJobs(document: $d, dryRun: $dry) { created updated dryRun problems { entry field message } } }";

async fn export(api: &Api, who: &LoggedIn, tag: Option<&str>) -> Value {
    let answer = api
        .graphql(EXPORT, json!({"tag": tag}), Some(&who.access_token))
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["exportJobs"].clone()
}

async fn import(api: &Api, who: &LoggedIn, document: &Value, dry: bool) -> Value {
    let answer = api
        .graphql(
            IMPORT,
            json!({"d": document, "dry": dry}),
            Some(&who.access_token),
        )
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["importJobs"].clone()
}

async fn names(api: &Api, who: &LoggedIn) -> Vec<String> {
    let answer = api
        .graphql(
            "{ jobs(first: 50) { edges { node { name } } } }",
            json!({}),
            Some(&who.access_token),
        )
        .await;
    let mut names: Vec<String> = answer["data"]["jobs"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn export_delete_import_restores_the_same_jobs() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let token = Some(ann.access_token.as_str());
    let set = api
        .graphql(
            "mutation { setSecret(name: \"TOKEN\", value: \"do-not-export-me\") { name } }",
            json!({}),
            token,
        )
        .await;
    assert!(set["errors"].is_null(), "{set}");
    let url = env.target.url("/t");
    let inputs = [
        json!({"name": "plain", "cronExpression": "*/5 * * * *", "targetUrl": url, "tags": ["ops"]}),
        json!({"name": "rich", "cronExpression": "0 3 * * *", "timezone": "Europe/Paris",
               "targetUrl": url, "httpMethod": "POST", "body": "{\"k\":\"{{secrets.TOKEN}}\"}",
               "headers": {"Authorization": "Bearer {{secrets.TOKEN}}"}, "maxRetries": 2,
               "successCriteria": {"statusCodes": ["2xx"], "bodyContains": "ok"},
               "retryPolicy": {"maxRetries": 2, "backoffBaseMs": 500, "backoffMaxMs": 60000, "retryOn": ["TIMEOUT", "HTTP_5XX"]},
               "catchUpPolicy": "ALL", "overlapPolicy": "SKIP", "maxRuns": 10, "jitterSeconds": 30,
               "tags": ["ops", "eu"]}),
        json!({"name": "once", "runAt": chrono::Utc::now() + chrono::Duration::days(1), "targetUrl": url}),
    ];
    let mut ids = Vec::new();
    for input in inputs {
        let created = job_api::create(api, &ann, input).await;
        assert!(created["errors"].is_null(), "{created}");
        ids.push(created["data"]["createJob"]["id"].clone());
    }
    let document = export(api, &ann, None).await;
    assert_eq!(
        (&document["format"], &document["version"]),
        (&json!("cronops.jobs"), &json!(1))
    );
    assert_eq!(document["jobs"].as_array().unwrap().len(), 3);
    assert!(
        !document.to_string().contains("do-not-export-me"),
        "{document}"
    );
    assert_eq!(
        export(api, &ann, Some("eu")).await["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for id in &ids {
        job_api::delete(api, &ann, id).await;
    }
    assert!(names(api, &ann).await.is_empty());
    let restored = import(api, &ann, &document, false).await;
    assert_eq!(
        restored,
        json!({"created": 3, "updated": 0, "dryRun": false, "problems": []})
    );
    assert_eq!(names(api, &ann).await, ["once", "plain", "rich"]);
    let again = export(api, &ann, None).await;
    assert_eq!(again["jobs"], document["jobs"], "the same jobs");
    // Importing again updates them by name.
    let updated = import(api, &ann, &document, false).await;
    assert_eq!(
        (&updated["created"], &updated["updated"]),
        (&json!(0), &json!(3))
    );
}

#[tokio::test]
async fn an_invalid_import_or_a_dry_run_changes_nothing() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ann = job_api::user(&env, api, "ann").await;
    let created = job_api::create(api, &ann, job_input(&env, "kept")).await;
    assert!(created["errors"].is_null(), "{created}");
    let mut document = export(api, &ann, None).await;
    let original = document.clone();
    document["jobs"][0]["targetUrl"] = json!("https://example.com/changed");
    document["jobs"].as_array_mut().unwrap().push(
        json!({"name": "new", "cronExpression": "nope", "targetUrl": "https://example.com/"}),
    );
    document["jobs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "other", "cronExpression": "*/5 * * * *", "targetUrl": "https://example.com/", "headers": {"X": "{{secrets.MISSING}}"}}));
    document["jobs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "odd", "cronExpression": "*/5 * * * *", "targetUrl": "https://example.com/", "surprise": 1}));
    let refused = import(api, &ann, &document, false).await;
    let problems = refused["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 3, "{refused}");
    assert_eq!(
        (&problems[0]["entry"], &problems[0]["field"]),
        (&json!(1), &json!("cronExpression"))
    );
    assert_eq!(
        (&problems[1]["entry"], &problems[1]["field"]),
        (&json!(2), &json!("headers"))
    );
    assert_eq!(problems[2]["entry"], 3);
    assert!(
        problems[2]["message"]
            .as_str()
            .unwrap()
            .contains("surprise"),
        "{refused}"
    );
    assert_eq!(names(api, &ann).await, ["kept"], "nothing changed");
    assert_eq!(export(api, &ann, None).await["jobs"], original["jobs"]);

    // A dry run reports what it would do, and does nothing.
    let mut valid = original.clone();
    valid["jobs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "new", "cronExpression": "*/5 * * * *", "targetUrl": "https://example.com/"}));
    let dry = import(api, &ann, &valid, true).await;
    assert_eq!(
        dry,
        json!({"created": 1, "updated": 1, "dryRun": true, "problems": []})
    );
    assert_eq!(names(api, &ann).await, ["kept"]);
    // Over the FREE plan's 5 jobs: refused whole.
    for n in 0..5 {
        valid["jobs"].as_array_mut().unwrap().push(
            json!({"name": format!("more {n}"), "cronExpression": "*/5 * * * *", "targetUrl": "https://example.com/"}),
        );
    }
    let over = import(api, &ann, &valid, false).await;
    assert!(
        over["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("plan"),
        "{over}"
    );
    assert_eq!(names(api, &ann).await, ["kept"]);
    let wrong = import(api, &ann, &json!({"jobs": []}), false).await;
    assert_eq!(wrong["problems"][0]["field"], "document", "{wrong}");
}

fn job_input(env: &TestEnv, name: &str) -> Value {
    job_api::job_input(env, name)
}
