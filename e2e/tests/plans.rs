//! Plans and their limits: job slots under concurrent creates, downgrades, and manual
//! runs rate-limited by plan.

use serde_json::{Value, json};
use testkit::TestEnv;
use testkit::accounts::{LoggedIn, error_code};
use testkit::job_api::{SET_PLAN, create, job_input, user};

#[tokio::test]
async fn twenty_concurrent_creates_on_five_slots_make_exactly_five() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "racer").await;
    let results = futures_util::future::join_all(
        (0..20).map(|i| create(api, &ada, job_input(&env, &format!("race {i}")))),
    )
    .await;
    let created = results.iter().filter(|r| r["errors"].is_null()).count();
    let refused: Vec<_> = results
        .iter()
        .filter(|r| error_code(r) == Some("PLAN_LIMIT_REACHED"))
        .collect();
    assert_eq!(created, 5);
    assert_eq!(refused.len(), 15);
    assert!(
        refused[0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("allows 5 jobs")
    );
    let count = api
        .graphql("{ me { jobCount } }", json!({}), Some(&ada.access_token))
        .await;
    assert_eq!(count["data"]["me"]["jobCount"], 5);
}

#[tokio::test]
async fn downgrades_the_jobs_exceed_are_refused_upgrades_apply_at_once() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "planner").await;
    let every_second =
        json!({"name": "fast", "cronExpression": "* * * * * *", "targetUrl": env.target.url("/x")});
    assert_eq!(
        error_code(&create(api, &ada, every_second.clone()).await),
        Some("BAD_USER_INPUT")
    );

    let up = api
        .graphql(SET_PLAN, json!({"plan": "PRO"}), Some(&ada.access_token))
        .await;
    assert_eq!(up["data"]["updatePlan"]["plan"], "PRO");
    let fast = create(api, &ada, every_second).await;
    assert!(fast["errors"].is_null(), "PRO allows 1 s at once: {fast}");
    let mut slow = job_input(&env, "slow but long");
    slow["timeout"] = json!(90000);
    assert!(create(api, &ada, slow).await["errors"].is_null());

    let down = api
        .graphql(SET_PLAN, json!({"plan": "FREE"}), Some(&ada.access_token))
        .await;
    assert_eq!(error_code(&down), Some("PLAN_LIMIT_REACHED"), "{down}");
    let message = down["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`fast`") && message.contains("60 s"),
        "{message}"
    );
    assert!(
        message.contains("`slow but long`") && message.contains("30000 ms"),
        "{message}"
    );
    let me = api
        .graphql("{ me { plan } }", json!({}), Some(&ada.access_token))
        .await;
    assert_eq!(me["data"]["me"]["plan"], "PRO", "nothing changed");
    let plans = api
        .graphql("{ plans { plan maxJobs } }", json!({}), None)
        .await;
    assert_eq!(
        plans["data"]["plans"][2],
        json!({"plan": "PRO", "maxJobs": 500})
    );
}

#[tokio::test]
async fn run_job_is_rate_limited_per_user_by_plan() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = user(&env, api, "eager").await;
    let bob = user(&env, api, "patient").await;
    let run = |who: &LoggedIn, id: String| {
        let token = who.access_token.clone();
        async move {
            api.graphql(
                "mutation($id: ID!) { runJob(id: $id) { id status } }",
                json!({"id": id}),
                Some(&token),
            )
            .await
        }
    };
    let job_of = |response: Value| {
        response["data"]["createJob"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ada_job = job_of(create(api, &ada, job_input(&env, "mine")).await);
    let bob_job = job_of(create(api, &bob, job_input(&env, "his")).await);

    let allowed = db::Plan::Free.limits().manual_runs_per_minute;
    for i in 0..allowed {
        let ok = run(&ada, ada_job.clone()).await;
        assert_eq!(ok["data"]["runJob"]["status"], "PENDING", "run {i}: {ok}");
    }
    let refused = run(&ada, ada_job.clone()).await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    let retry_after = refused["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{refused}");
    assert!(refused["data"].is_null() || refused["data"]["runJob"].is_null());
    // Another user's budget is untouched.
    let other = run(&bob, bob_job).await;
    assert_eq!(other["data"]["runJob"]["status"], "PENDING", "{other}");
}
