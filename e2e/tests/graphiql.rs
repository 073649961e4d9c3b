//! GraphiQL in a real browser (headless Chromium): it loads everything from the binary,
//! renders, and runs a subscription over `/graphql/ws` with its own client.

use std::time::Duration;

use testkit::browser::Browser;
use testkit::{TestEnv, job_api};

#[tokio::test]
async fn graphiql_renders_offline_and_subscribes_over_the_socket() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    env.every_second_job(alice.user_id.parse().unwrap(), "/live")
        .await;

    // GraphiQL keeps its editors in the origin's storage: a subscription and an
    // Authorization header are put there from another page of the API first, so that
    // GraphiQL opens with them (a page of its own would write its editors back).
    let browser = Browser::start().await;
    let mut setup = browser.open(&format!("{}/health", api.base)).await;
    let token = &alice.access_token;
    setup
        .evaluate(
            &format!(
                r#"localStorage.setItem("graphiql:headers", JSON.stringify({{Authorization: "Bearer {token}"}}));
                   localStorage.setItem("graphiql:query", "subscription {{ executionEvents {{ type log {{ status }} }} }}");
                   true"#
            ),
            Duration::from_secs(5),
        )
        .await;

    let mut page = browser.open(&format!("{}/graphql", api.base)).await;
    page.wait_for(
        "(document.querySelector('.graphiql-query-editor')?.innerText ?? '').includes('executionEvents')",
        Duration::from_secs(30),
    )
    .await;

    // Everything the page loaded came from the API itself.
    let loaded = page
        .evaluate(
            "performance.getEntriesByType('resource').map(e => e.name)",
            Duration::from_secs(5),
        )
        .await;
    let loaded: Vec<&str> = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The page's five files, and GraphiQL's own request for the schema.
    let files = loaded
        .iter()
        .filter(|url| url.contains("/graphql/assets/"))
        .count();
    assert_eq!(files, 5, "{loaded:?}");
    assert!(
        loaded.iter().all(|url| url.starts_with(&api.base)),
        "{loaded:?}"
    );

    // Run it from GraphiQL's own button: the header goes into connection_init, and events
    // of the every-second job arrive in the response pane.
    page.evaluate(
        "document.querySelector('.graphiql-execute-button').click(); true",
        Duration::from_secs(5),
    )
    .await;
    let response = "document.querySelector('.graphiql-response')?.innerText ?? ''";
    page.wait_for(
        &format!("({response}).includes('executionEvents')"),
        Duration::from_secs(30),
    )
    .await;
    let shown = page.evaluate(response, Duration::from_secs(5)).await;
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("STARTED") || shown.contains("SUCCEEDED"),
        "{shown}"
    );
    assert!(!shown.contains("errors"), "{shown}");
}
