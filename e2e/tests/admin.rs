//! Admin operations check the caller's role as it is now in the database.

use serde_json::json;
use testkit::TestEnv;
use testkit::accounts::error_code;

const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { updateUserRole(id: $id, role: $role) { id role } }";

#[tokio::test]
async fn roles_are_read_from_the_database_on_every_admin_call() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let user = api
        .signup_verified(&env.mail, "ops@example.com", "Password123!")
        .await;

    let anonymous = api
        .graphql(SET_ROLE, json!({"id": user.user_id, "role": "ADMIN"}), None)
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
    let by_user = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "ADMIN"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(error_code(&by_user), Some("FORBIDDEN"), "{by_user}");
    let unknown = api
        .graphql(
            SET_ROLE,
            json!({"id": uuid::Uuid::new_v4(), "role": "ADMIN"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"));

    let promoted = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "ADMIN"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(
        promoted["data"]["updateUserRole"]["role"], "ADMIN",
        "{promoted}"
    );

    // The promoted user's token still says USER, yet the database says ADMIN: allowed.
    let demote_admin = api
        .graphql(
            SET_ROLE,
            json!({"id": admin.user_id, "role": "USER"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(
        demote_admin["data"]["updateUserRole"]["role"], "USER",
        "{demote_admin}"
    );

    // The demoted admin's token still says ADMIN, yet access is gone at once.
    let stale = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "USER"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&stale), Some("FORBIDDEN"), "{stale}");

    // The last admin cannot demote themselves.
    let last = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "USER"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(error_code(&last), Some("CONFLICT"), "{last}");
}

const ADMIN_QUERIES: &[&str] = &[
    "{ adminStats { totalUsers } }",
    "{ adminAnalytics { days } }",
    "{ adminUsers { totalCount } }",
    "{ adminJobs { totalCount } }",
    "{ adminLogs { totalCount } }",
    "mutation { deleteUser(id: \"00000000-0000-0000-0000-000000000000\") }",
    "mutation { updateUserRole(id: \"00000000-0000-0000-0000-000000000000\", role: ADMIN) { id } }",
];

#[tokio::test]
async fn every_admin_operation_checks_the_role() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let user = api.login_ok("demo@cronops.dev", "Password123!").await;
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    for query in ADMIN_QUERIES {
        let anonymous = api.graphql(query, json!({}), None).await;
        assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{query}");
        let forbidden = api
            .graphql(query, json!({}), Some(&user.access_token))
            .await;
        assert_eq!(error_code(&forbidden), Some("FORBIDDEN"), "{query}");
        let allowed = api
            .graphql(query, json!({}), Some(&admin.access_token))
            .await;
        assert!(
            allowed["errors"].is_null() || error_code(&allowed) == Some("NOT_FOUND"),
            "{query}: {allowed}"
        );
    }
}

#[tokio::test]
async fn admin_lists_and_system_stats_match_the_data() {
    let env = TestEnv::development().await;
    env.seed().await; // admin + verified demo user (+ 3 demo jobs, 2 active)
    let server = env.start_api().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let pro = api
        .signup_verified(&env.mail, "pro@example.com", "Password123!")
        .await;
    api.graphql(
        "mutation { updatePlan(plan: PRO) { plan } }",
        json!({}),
        Some(&pro.access_token),
    )
    .await;
    api.signup("unverified@example.com", "Password123!", "Unverified")
        .await;
    // A job due in the past with no scheduler running: it waits in the queue.
    let created = api
        .graphql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
            json!({"i": {"name": "waiting", "cronExpression": "* * * * * *", "targetUrl": env.target.url("/w")}}),
            Some(&pro.access_token),
        )
        .await;
    let job_id: uuid::Uuid = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    scheduler::queue::schedule(
        &redis,
        &keys,
        pro.user_id.parse().unwrap(),
        job_id,
        chrono::Utc::now() - chrono::Duration::seconds(30),
    )
    .await
    .unwrap();

    let stats = api
        .graphql("{ adminStats { totalUsers verifiedUsers usersByPlan { plan count } totalJobs activeJobs totalExecutions executionsLast24h successRate queueDepth schedulerLagMs } }", json!({}), Some(&admin.access_token))
        .await;
    let s = &stats["data"]["adminStats"];
    assert_eq!(s["totalUsers"], 4, "{stats}");
    assert_eq!(s["verifiedUsers"], 3);
    assert_eq!(
        s["usersByPlan"],
        json!([{"plan": "FREE", "count": 3}, {"plan": "PREMIUM", "count": 0}, {"plan": "PRO", "count": 1}])
    );
    assert_eq!(s["totalJobs"], 4);
    assert_eq!(s["activeJobs"], 3);
    assert_eq!(s["totalExecutions"], 0);
    assert_eq!(s["queueDepth"], 1);
    let lag = s["schedulerLagMs"].as_i64().unwrap();
    assert!((29_000..60_000).contains(&lag), "{lag}");

    let users = api
        .graphql(
            "{ adminUsers(search: \"EXAMPLE\") { totalCount edges { node { email } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(users["data"]["adminUsers"]["totalCount"], 2, "{users}");
    assert_eq!(
        users["data"]["adminUsers"]["edges"][0]["node"]["email"], "unverified@example.com",
        "newest first"
    );
    let by_name = api
        .graphql(
            "{ adminUsers(search: \"demo user\") { totalCount } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(by_name["data"]["adminUsers"]["totalCount"], 1);
    let admins = api
        .graphql(
            "{ adminUsers(role: ADMIN) { edges { node { email } } } }",
            json!({}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(
        admins["data"]["adminUsers"]["edges"],
        json!([{"node": {"email": "admin@cronops.dev"}}])
    );
    let jobs = api
        .graphql("query($u: ID) { adminJobs(userId: $u) { totalCount } paused: adminJobs(status: PAUSED) { totalCount } }", json!({"u": pro.user_id}), Some(&admin.access_token))
        .await;
    assert_eq!(jobs["data"]["adminJobs"]["totalCount"], 1, "{jobs}");
    assert_eq!(jobs["data"]["paused"]["totalCount"], 1);
}

#[tokio::test]
async fn deleting_a_user_removes_everything_and_ends_their_subscriptions() {
    use testkit::ws::{Incoming, Protocol, WsClient};
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_all().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let doomed = api
        .signup_verified(&env.mail, "doomed@example.com", "Password123!")
        .await;
    let created = api
        .graphql(
            "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
            json!({"i": {"name": "gone soon", "cronExpression": "0 0 1 1 *", "targetUrl": env.target.url("/d")}}),
            Some(&doomed.access_token),
        )
        .await;
    let job_id: uuid::Uuid = created["data"]["createJob"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut socket =
        WsClient::authenticated(&api.base, Protocol::Modern, &doomed.access_token).await;
    socket
        .subscribe("s", "subscription { executionEvents { type } }", json!({}))
        .await;
    assert!(
        socket
            .quiet_for(std::time::Duration::from_millis(200))
            .await
    );
    api.graphql(
        "mutation($id: ID!) { runJob(id: $id) { id } }",
        json!({"id": job_id}),
        Some(&doomed.access_token),
    )
    .await;
    env.target
        .wait_for("/d", 1, std::time::Duration::from_secs(10))
        .await;
    // The run's own events come first (its outcome is published after the request, so
    // a socket opened after the request could still get it): the end of the
    // subscription must be the next message after them.
    for expected in ["STARTED", "SUCCEEDED"] {
        match socket.next(std::time::Duration::from_secs(10)).await {
            Incoming::Json(v) => assert_eq!(
                v["payload"]["data"]["executionEvents"]["type"], expected,
                "{v}"
            ),
            other => panic!("expected the run's {expected} event, got {other:?}"),
        }
    }

    let deleted = api
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": doomed.user_id}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(deleted["data"]["deleteUser"], true, "{deleted}");

    match socket.next(std::time::Duration::from_secs(10)).await {
        Incoming::Json(v) => assert!(v.to_string().contains("deleted"), "{v}"),
        other => panic!("expected the subscription to end with a message, got {other:?}"),
    }
    let redis = scheduler::redis::connect(&env.redis_url, 1).unwrap();
    let keys = scheduler::Keys::new(&env.key_prefix);
    let owner: uuid::Uuid = doomed.user_id.parse().unwrap();
    assert_eq!(
        scheduler::queue::scores(&redis, &keys, &[(owner, job_id)])
            .await
            .unwrap()[0],
        None
    );
    let plan: Option<String> =
        fred::prelude::HashesInterface::hget(redis.next(), keys.plans(), owner.to_string())
            .await
            .unwrap();
    assert_eq!(plan, None, "the deleted user is forgotten in Redis too");
    assert!(
        testkit::fixtures::all_runs(&env.database)
            .await
            .iter()
            .all(|r| r.job_id != job_id),
        "runs gone"
    );
    let refresh = api
        .graphql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({"t": doomed.refresh_token}),
            None,
        )
        .await;
    assert_eq!(
        error_code(&refresh),
        Some("UNAUTHENTICATED"),
        "sessions gone"
    );
    let me = api
        .graphql("{ me { id } }", json!({}), Some(&doomed.access_token))
        .await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"));

    // The last admin can delete neither themselves nor be demoted.
    let own = api
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": admin.user_id}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&own), Some("CONFLICT"), "{own}");
    let unknown = api
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({"id": uuid::Uuid::new_v4()}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"));
}
