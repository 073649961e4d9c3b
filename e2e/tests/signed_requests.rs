//! Signed job requests: the target verifies each with the README's Node.js check, under
//! `current` and `next`, and goes on verifying across `rotateSigningSecret`.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use testkit::readme::node_verify;
use testkit::target::ReceivedRequest;
use testkit::{TestEnv, job_api};

const SECRET: &str = "{ signingSecret { current next createdAt } }";
const ROTATE: &str = "mutation { rotateSigningSecret { current next createdAt } }";

/// What a request's signature covers: its execution id and raw body.
fn signed(hit: &ReceivedRequest) -> String {
    let id = hit.headers["x-cronops-execution-id"].to_str().unwrap();
    format!("{id}.{}", String::from_utf8(hit.body.to_vec()).unwrap())
}

fn signature(hit: &ReceivedRequest) -> &str {
    hit.headers["x-cronops-signature"].to_str().unwrap()
}

#[tokio::test]
async fn targets_verify_signed_requests_across_a_rotation() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let ann = job_api::pro_user(&env, api, "ann").await;
    let token = Some(ann.access_token.as_str());
    for (path, method, body) in [
        ("/signed-post", "POST", json!("{\"ping\":1}")),
        ("/signed-get", "GET", Value::Null),
    ] {
        let mut input = job_api::job_input(&env, path);
        input["cronExpression"] = json!("* * * * * *");
        input["targetUrl"] = json!(env.target.url(path));
        input["httpMethod"] = json!(method);
        input["body"] = body;
        let created = job_api::create(api, &ann, input).await;
        assert!(created["errors"].is_null(), "{created}");
    }
    let before = api.graphql(SECRET, json!({}), token).await;
    let before = &before["data"]["signingSecret"];
    let (current, next) = (
        before["current"].as_str().unwrap().to_owned(),
        before["next"].as_str().unwrap().to_owned(),
    );
    assert_ne!(current, next);

    for path in ["/signed-post", "/signed-get"] {
        let hits = env.target.wait_for(path, 2, Duration::from_secs(30)).await;
        for hit in &hits {
            let header = signature(hit);
            assert_eq!(
                node_verify(header, &signed(hit), &current),
                "true",
                "{header}"
            );
            assert_eq!(node_verify(header, &signed(hit), &next), "true", "{header}");
            assert_eq!(node_verify(header, &signed(hit), "whsec_other"), "false");
            // Moved to another run, or with another body, it does not verify.
            let other = format!(
                "{}.{}",
                uuid::Uuid::new_v4(),
                String::from_utf8_lossy(&hit.body)
            );
            assert_eq!(node_verify(header, &other, &current), "false");
            assert_eq!(
                node_verify(header, &format!("{}x", signed(hit)), &current),
                "false"
            );
        }
    }
    assert!(signed(&env.target.received_on("/signed-get")[0]).ends_with('.'));

    // Rotation: next becomes current, a new next is drawn, and requests from then on are
    // signed with those two.
    let rotated = api.graphql(ROTATE, json!({}), token).await;
    let rotated = &rotated["data"]["rotateSigningSecret"];
    assert_eq!(rotated["current"], json!(next), "{rotated}");
    let new_next = rotated["next"].as_str().unwrap().to_owned();
    assert!(new_next != current && new_next != next);
    let rotated_at = Utc::now();
    let seen = env.target.received_on("/signed-post").len();
    let hits = env
        .target
        .wait_for("/signed-post", seen + 3, Duration::from_secs(30))
        .await;
    // Requests that left a second after the rotation (not prepared before it).
    let later: Vec<_> = hits
        .iter()
        .filter(|hit| hit.received_at > rotated_at + chrono::Duration::seconds(1))
        .collect();
    assert!(!later.is_empty());
    for hit in later {
        let header = signature(hit);
        assert_eq!(node_verify(header, &signed(hit), &next), "true", "{header}");
        assert_eq!(
            node_verify(header, &signed(hit), &new_next),
            "true",
            "{header}"
        );
        assert_eq!(
            node_verify(header, &signed(hit), &current),
            "false",
            "{header}"
        );
    }
    let read = api.graphql(SECRET, json!({}), token).await;
    assert_eq!(read["data"]["signingSecret"], *rotated);
}
