//! Notification channels: the account's own email from the start, other addresses only
//! once the link mailed to them is opened, webhooks under the rules of job targets.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::accounts::error_code;
use testkit::{Cronops, TestEnv, job_api};

const LIST: &str =
    "{ notificationChannels { id type name target verified accountEmail lastDeliveryAt } }";
const CREATE: &str = "mutation($input: CreateNotificationChannelInput!) { createNotificationChannel(input: $input) { id type target verified accountEmail } }";
const DELETE: &str = "mutation($id: ID!) { deleteNotificationChannel(id: $id) }";
const VERIFY: &str =
    "mutation($token: String!) { verifyNotificationChannel(token: $token) { id verified } }";

fn link_token(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test]
async fn channels_start_with_the_account_email_and_other_addresses_need_consent() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    let token = Some(alice.access_token.as_str());

    let list = api.graphql(LIST, json!({}), token).await;
    assert_eq!(
        list["data"]["notificationChannels"],
        json!([{
            "id": list["data"]["notificationChannels"][0]["id"],
            "type": "EMAIL", "name": "Account email", "target": "alice@example.com",
            "verified": true, "accountEmail": true, "lastDeliveryAt": null,
        }]),
        "{list}"
    );
    let own_id = list["data"]["notificationChannels"][0]["id"].clone();

    // Another address: unverified until the mailed link is opened, once.
    let create = |input: Value| api.graphql(CREATE, json!({"input": input}), token);
    let ops =
        create(json!({"type": "EMAIL", "name": "On call", "target": " Ops@Example.com "})).await;
    let ops = &ops["data"]["createNotificationChannel"];
    assert_eq!(
        (&ops["target"], &ops["verified"]),
        (&json!("ops@example.com"), &json!(false))
    );
    let mail = env
        .mail
        .wait_for("ops@example.com", 1, Duration::from_secs(10))
        .await;
    assert!(mail.text().contains("alice@example.com"), "{}", mail.text());
    let link = link_token(&mail.text());
    let verified = api.graphql(VERIFY, json!({"token": link}), None).await;
    assert_eq!(
        verified["data"]["verifyNotificationChannel"]["verified"], true,
        "{verified}"
    );
    let again = api.graphql(VERIFY, json!({"token": link}), None).await;
    assert_eq!(error_code(&again), Some("BAD_USER_INPUT"));

    // A webhook is verified at once; the account email cannot be added twice or removed.
    let hook =
        create(json!({"type": "WEBHOOK", "name": "Ops hook", "target": env.target.url("/alerts")}))
            .await;
    assert_eq!(
        hook["data"]["createNotificationChannel"]["verified"], true,
        "{hook}"
    );
    let twice = create(json!({"type": "EMAIL", "name": "Me", "target": "alice@example.com"})).await;
    assert_eq!(error_code(&twice), Some("CONFLICT"));
    let removed = api.graphql(DELETE, json!({"id": own_id}), token).await;
    assert_eq!(error_code(&removed), Some("CONFLICT"));

    // Another user sees and removes nothing of alice's.
    let bob = job_api::user(&env, api, "bob").await;
    let hook_id = hook["data"]["createNotificationChannel"]["id"].clone();
    let theirs = api
        .graphql(DELETE, json!({"id": hook_id}), Some(&bob.access_token))
        .await;
    assert_eq!(error_code(&theirs), Some("NOT_FOUND"));
    let bobs = api.graphql(LIST, json!({}), Some(&bob.access_token)).await;
    assert_eq!(
        bobs["data"]["notificationChannels"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let deleted = api.graphql(DELETE, json!({"id": hook_id}), token).await;
    assert_eq!(
        deleted["data"]["deleteNotificationChannel"], true,
        "{deleted}"
    );
    let list = api.graphql(LIST, json!({}), token).await;
    assert_eq!(
        list["data"]["notificationChannels"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn webhook_urls_follow_the_rules_of_job_targets() {
    let env = TestEnv::new().await;
    let vars = env.vars_with(&[("ALLOW_PRIVATE_TARGETS", "false")]);
    let server = Cronops::start_server("api", vars, env.workdir.path()).await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    for target in [
        "http://127.0.0.1:9/alerts",
        "http://169.254.169.254/latest",
        "ftp://example.com/x",
    ] {
        for kind in ["WEBHOOK", "SLACK"] {
            let refused = api
                .graphql(
                    CREATE,
                    json!({"input": {"type": kind, "name": "x", "target": target}}),
                    Some(&alice.access_token),
                )
                .await;
            assert_eq!(
                refused["errors"][0]["extensions"],
                json!({"code": "BAD_USER_INPUT", "field": "target"}),
                "{kind} {target}: {refused}"
            );
        }
    }
    let bad_email = api
        .graphql(
            CREATE,
            json!({"input": {"type": "EMAIL", "name": "x", "target": "not an address"}}),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(
        bad_email["errors"][0]["extensions"]["field"], "target",
        "{bad_email}"
    );
}
