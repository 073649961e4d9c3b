//! The API as a GraphQL ecosystem client meets it: the GraphQL over HTTP specification's
//! own audit suite, media types and status codes, a code on every error, null
//! propagation, automatic persisted queries, and GraphiQL served without a CDN.

use std::path::Path;

use serde_json::{Value, json};
use testkit::{TestEnv, job_api};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A raw POST, to choose every header.
async fn post(
    base: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST /graphql");
    answer(response).await
}

async fn get(base: &str, query: &str, headers: &[(&str, &str)]) -> (u16, String, Value) {
    let mut request = reqwest::Client::new().get(format!("{base}/graphql?{query}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send().await.expect("GET /graphql")).await
}

async fn answer(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

fn codes(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_graphql_over_http_audit_passes_without_a_warning() {
    let audit_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("http-audit");
    assert!(
        audit_dir.join("node_modules/graphql-http").is_dir(),
        "the audit suite is not installed: run `make test` (it runs `npm ci` in e2e/http-audit)"
    );
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let output = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(format!("{}/graphql", server.api().base))
        .current_dir(&audit_dir)
        .output()
        .await
        .expect("run node (make test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let not_ok: Vec<&Value> = results.iter().filter(|r| r["status"] != "ok").collect();
    assert!(results.len() >= 60, "only {} audits ran", results.len());
    assert!(
        not_ok.is_empty(),
        "audits not passed:\n{}",
        serde_json::to_string_pretty(&not_ok).unwrap()
    );
}

#[tokio::test]
async fn media_types_and_status_codes_follow_the_specification() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let base = &server.api().base;
    let json_body = r#"{"query": "{ __typename }"}"#;
    let json = ("content-type", "application/json");

    let (status, content_type, body) =
        post(base, &[json, ("accept", "application/json")], json_body).await;
    assert_eq!(
        (status, body),
        (200, json!({"data": {"__typename": "Query"}}))
    );
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );

    let (status, content_type, _) =
        post(base, &[json, ("accept", GRAPHQL_RESPONSE)], json_body).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");

    // A request error under each media type: no `data`, 200 or 400.
    for (accept, expected) in [("application/json", 200), (GRAPHQL_RESPONSE, 400)] {
        let (status, _, body) = post(base, &[json, ("accept", accept)], r#"{"query": "{"}"#).await;
        assert_eq!(status, expected, "{accept}");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(codes(&body), ["GRAPHQL_PARSE_FAILED"]);
    }

    // No content type, another one, or nothing acceptable.
    let (status, _, body) = post(base, &[], json_body).await;
    assert_eq!((status, codes(&body)), (415, vec!["BAD_REQUEST"]));
    let (status, _, _) = post(
        base,
        &[("content-type", "application/graphql")],
        "{ __typename }",
    )
    .await;
    assert_eq!(status, 415);
    let (status, _, _) = post(base, &[json, ("accept", "text/csv")], json_body).await;
    assert_eq!(status, 406);

    // Parameters of the wrong shape.
    for body in [
        r#"{"query": 1}"#,
        r#"{"variables": {}}"#,
        "not json",
        r#"[{"query": "{ a }"}]"#,
    ] {
        let (status, _, answer) = post(base, &[json], body).await;
        assert_eq!(
            (status, codes(&answer)),
            (400, vec!["BAD_REQUEST"]),
            "{body}"
        );
    }

    // GET: queries only; a mutation is 405 with Allow.
    let (status, _, body) = get(base, "query=%7B__typename%7D", &[]).await;
    assert_eq!(
        (status, body),
        (200, json!({"data": {"__typename": "Query"}}))
    );
    let response = reqwest::get(format!("{base}/graphql?query=mutation%7Blogout%7D"))
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn every_request_error_carries_a_code() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let cases = [
        ("{ jobs(first: ", json!({}), "GRAPHQL_PARSE_FAILED", None),
        ("{ nope }", json!({}), "GRAPHQL_VALIDATION_FAILED", None),
        ("{ nextRuns }", json!({}), "GRAPHQL_VALIDATION_FAILED", None),
        (
            "{ nextRuns(cronExpression: 5) }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
            None,
        ),
        (
            "{ jobs(status: SLEEPING) { totalCount } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
            None,
        ),
        (
            "query($n: Int) { nextRuns(cronExpression: \"* * * * *\", count: $n) }",
            json!({"n": "many"}),
            "BAD_USER_INPUT",
            Some("count"),
        ),
        (
            "mutation($input: CreateJobInput!) { createJob(input: $input) { id } }",
            json!({"input": {"name": "x", "cronExpression": "* * * * *", "targetUrl": "http://a", "timeout": "slow"}}),
            "BAD_USER_INPUT",
            Some("timeout"),
        ),
        (
            "query($id: ID!) { job(id: $id) { id } }",
            json!({}),
            "BAD_USER_INPUT",
            Some("id"),
        ),
        (
            "query A { plans { plan } } query B { plans { plan } }",
            json!({}),
            "OPERATION_RESOLUTION_FAILURE",
            None,
        ),
    ];
    for (query, variables, code, field) in cases {
        let body = api.graphql(query, variables, None).await;
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(codes(&body), [code], "{query}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["field"].as_str(),
            field,
            "{query}"
        );
    }
}

#[tokio::test]
async fn an_error_in_a_non_null_field_nulls_the_nearest_nullable_parent() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let alice = job_api::user(&env, api, "alice").await;
    let job = job_api::create(api, &alice, job_api::job_input(&env, "nightly")).await;
    let id = &job["data"]["createJob"]["id"];
    assert!(id.is_string(), "{job}");
    let token = Some(alice.access_token.as_str());

    // `logs` is non-null in `job`, which is non-null in `Query`: `data` is null.
    let body = api
        .graphql(
            "query($id: ID!) { plans { plan } job(id: $id) { id logs(first: -1) { totalCount } } }",
            json!({"id": id}),
            token,
        )
        .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["job", "logs"]));
    assert_eq!(body["errors"][0]["extensions"]["field"], "first");

    // Through a list and a DataLoader: `upcomingRuns[0].job.logs`.
    let body = api
        .graphql(
            "{ stats { upcomingRuns { job { logs(first: -1) { totalCount } } } } }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(body["data"], Value::Null, "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["stats", "upcomingRuns", 0, "job", "logs"])
    );
}

#[tokio::test]
async fn persisted_queries_are_found_by_their_hash_over_post_and_get() {
    use sha2::Digest;
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let base = &server.api().base;
    let query = "{ plans { plan } }";
    let hash = hex::encode(sha2::Sha256::digest(query));
    let extensions = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let json = ("content-type", "application/json");
    let by_hash = json!({ "extensions": extensions }).to_string();
    let get_query =
        reqwest::Url::parse_with_params("http://unused/", [("extensions", extensions.to_string())])
            .unwrap()
            .query()
            .unwrap()
            .to_owned();

    // Unknown at first, over either method.
    let (status, _, body) = post(base, &[json], by_hash.clone()).await;
    assert_eq!(
        (status, codes(&body)),
        (200, vec!["PERSISTED_QUERY_NOT_FOUND"])
    );
    let (status, _, body) = get(base, &get_query, &[]).await;
    assert_eq!(
        (status, codes(&body)),
        (200, vec!["PERSISTED_QUERY_NOT_FOUND"])
    );

    // Sent once with its text, then known by its hash.
    let with_text = json!({ "query": query, "extensions": extensions }).to_string();
    let (status, _, body) = post(base, &[json], with_text).await;
    assert_eq!(
        (status, &body["data"]["plans"][0]["plan"]),
        (200, &json!("FREE"))
    );
    for (status, _, body) in [
        post(base, &[json], by_hash).await,
        get(base, &get_query, &[]).await,
    ] {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["plans"].as_array().unwrap().len(), 3, "{body}");
    }

    // A hash that is not the text's is refused.
    let lie = json!({ "query": "{ plans { name } }", "extensions": extensions }).to_string();
    let (status, _, body) = post(base, &[json], lie).await;
    assert_eq!((status, codes(&body)), (400, vec!["BAD_REQUEST"]));
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let page = api.get("/graphql", &[("accept", "text/html")]).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("://"),
        "the page names another origin:\n{html}"
    );
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert_eq!(assets.len(), 5, "{html}");
    for asset in assets {
        let response = api.get(asset, &[]).await;
        assert_eq!(response.status(), 200, "{asset}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = if asset.ends_with(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(
            content_type.starts_with(expected),
            "{asset}: {content_type}"
        );
        let body = response.bytes().await.unwrap();
        assert!(body.len() > 500, "{asset} is {} bytes", body.len());
        if asset.ends_with("/app.js") {
            let script = String::from_utf8_lossy(&body);
            assert!(
                script.contains("/graphql/ws"),
                "subscriptions go over the socket"
            );
        }
    }
}
