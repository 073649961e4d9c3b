//! Execution logs, dashboard statistics and analytics over rows with known values.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::America::New_York;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use testkit::accounts::{LoggedIn, error_code};
use testkit::fixtures::{self, JobSpec};
use testkit::{Api, TestEnv};
use uuid::Uuid;

async fn insert_run(
    env: &TestEnv,
    job: Uuid,
    user: Uuid,
    at: DateTime<Utc>,
    status: &str,
    duration: Option<i32>,
) {
    let mut conn = env.database.connect().await;
    diesel::sql_query(format!(
        "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at, finished_at, duration_ms) \
         VALUES ('{job}', '{user}', '{status}', 'SCHEDULE', '{at}', '{at}', '{at}', {})",
        duration.map_or("NULL".to_owned(), |d| d.to_string())
    ))
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn me(api: &Api, env: &TestEnv, name: &str) -> (LoggedIn, Uuid) {
    let who = api
        .signup_verified(&env.mail, &format!("{name}@example.com"), "Password123!")
        .await;
    let id = who.user_id.parse().unwrap();
    (who, id)
}

#[tokio::test]
async fn logs_page_through_thousands_of_rows_with_filters() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let (ada, user) = me(api, &env, "pages").await;
    let spec = JobSpec::every_second(env.target.url("/x"));
    let first_job = fixtures::job(&env.database, user, &spec).await;
    let second_job = fixtures::job(&env.database, user, &spec).await;
    let mut conn = env.database.connect().await;
    // 3000 runs, one a minute back from now; every third one failed; alternate jobs.
    diesel::sql_query(format!(
        "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at, duration_ms) \
         SELECT CASE WHEN i % 2 = 0 THEN '{first_job}'::uuid ELSE '{second_job}'::uuid END, '{user}', \
                CASE WHEN i % 3 = 0 THEN 'FAILED' ELSE 'SUCCESS' END, 'SCHEDULE', \
                now() - i * interval '1 minute', now() - i * interval '1 minute', 10 \
         FROM generate_series(1, 3000) AS i"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let query = "query($first: Int, $after: String, $jobId: ID, $status: ExecutionStatus, $since: DateTime, $until: DateTime) { \
        executionLogs(first: $first, after: $after, jobId: $jobId, status: $status, since: $since, until: $until) { \
        totalCount pageInfo { hasNextPage endCursor } edges { node { id status startedAt job { id } } } } }";
    let fetch_all = |vars: Value| {
        let token = ada.access_token.clone();
        async move {
            let mut ids = Vec::new();
            let mut after: Option<String> = None;
            let mut total;
            let mut previous: Option<String> = None;
            loop {
                let mut vars = vars.clone();
                vars["first"] = json!(100);
                vars["after"] = json!(after);
                let page = api.graphql(query, vars, Some(&token)).await;
                let logs = &page["data"]["executionLogs"];
                total = logs["totalCount"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{page}"));
                for edge in logs["edges"].as_array().unwrap() {
                    let started = edge["node"]["startedAt"].as_str().unwrap().to_owned();
                    if let Some(prev) = &previous {
                        assert!(started <= *prev, "newest first");
                    }
                    previous = Some(started);
                    ids.push(edge["node"]["id"].as_str().unwrap().to_owned());
                }
                if logs["pageInfo"]["hasNextPage"] == false {
                    break;
                }
                after = logs["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
            (ids, total)
        }
    };
    let (all, total) = fetch_all(json!({})).await;
    assert_eq!((all.len(), total), (3000, 3000));
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        3000,
        "no run twice across pages"
    );

    let (failed, total) = fetch_all(json!({"status": "FAILED"})).await;
    assert_eq!((failed.len(), total), (1000, 1000));
    let (first, total) = fetch_all(json!({"jobId": first_job})).await;
    assert_eq!((first.len(), total), (1500, 1500));
    let now = Utc::now();
    let window = json!({"since": (now - Duration::minutes(100) - Duration::seconds(30)).to_rfc3339(),
                        "until": (now - Duration::minutes(50) - Duration::seconds(30)).to_rfc3339()});
    let (windowed, total) = fetch_all(window).await;
    assert_eq!((windowed.len(), total), (50, 50), "minutes 51..=100 back");

    // Someone else's job or run is NOT_FOUND; their list is empty.
    let (bob, _) = me(api, &env, "bob").await;
    let foreign = api
        .graphql(query, json!({"jobId": first_job}), Some(&bob.access_token))
        .await;
    assert_eq!(error_code(&foreign), Some("NOT_FOUND"));
    let one = api
        .graphql(
            "query($id: ID!) { executionLog(id: $id) { id } }",
            json!({"id": all[0]}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(error_code(&one), Some("NOT_FOUND"));
    let mine = api
        .graphql(
            "query($id: ID!) { executionLog(id: $id) { id status } }",
            json!({"id": all[0]}),
            Some(&ada.access_token),
        )
        .await;
    assert_eq!(mine["data"]["executionLog"]["id"], all[0]);
    let empty = api
        .graphql(
            "{ executionLogs { totalCount } }",
            json!({}),
            Some(&bob.access_token),
        )
        .await;
    assert_eq!(empty["data"]["executionLogs"]["totalCount"], 0);
}

#[tokio::test]
async fn stats_and_analytics_match_hand_computed_values() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let (ada, user) = me(api, &env, "numbers").await;
    let mut spec = JobSpec::every_second(env.target.url("/x"));
    spec.next_run_at = Some(Utc::now() + Duration::hours(1));
    let j1 = fixtures::job(&env.database, user, &spec).await;
    spec.next_run_at = Some(Utc::now() + Duration::hours(2));
    spec.status = db::JobStatus::Paused;
    let j2 = fixtures::job(&env.database, user, &spec).await;

    // Days in New York: today (D), D-1 (no runs), D-2.
    let today = Utc::now().with_timezone(&New_York).date_naive();
    let at = |days_back: i64, h: u32, m: u32| {
        New_York
            .from_local_datetime(
                &(today - Duration::days(days_back))
                    .and_hms_opt(h, m, 0)
                    .unwrap(),
            )
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    };
    insert_run(&env, j1, user, at(0, 1, 0), "SUCCESS", Some(100)).await;
    insert_run(&env, j1, user, at(0, 1, 30), "FAILED", Some(300)).await;
    insert_run(&env, j2, user, at(2, 23, 30), "TIMEOUT", Some(500)).await;
    insert_run(&env, j1, user, at(10, 12, 0), "SUCCESS", Some(100)).await; // outside 3 days
    // Another user's runs never count.
    let (_, other) = me(api, &env, "other").await;
    let foreign = env.every_second_job(other, "/y").await;
    insert_run(&env, foreign, other, at(0, 2, 0), "FAILED", Some(9999)).await;

    let stats = api
        .graphql("{ stats { totalJobs activeJobs pausedJobs totalExecutions successCount failureCount successRate avgDurationMs executionsLast24h upcomingRuns { job { id } nextRunAt } recentExecutions { id } } }", json!({}), Some(&ada.access_token))
        .await;
    let s = &stats["data"]["stats"];
    assert_eq!(s["totalJobs"], 2, "{stats}");
    assert_eq!(
        (s["activeJobs"].clone(), s["pausedJobs"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(s["totalExecutions"], 4);
    assert_eq!(
        (s["successCount"].clone(), s["failureCount"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(s["successRate"], 50.0);
    assert_eq!(s["avgDurationMs"], 250.0);
    let last_24h = [at(0, 1, 0), at(0, 1, 30)]
        .iter()
        .filter(|t| **t >= Utc::now() - Duration::hours(24))
        .count()
        + usize::from(at(2, 23, 30) >= Utc::now() - Duration::hours(24));
    assert_eq!(s["executionsLast24h"], last_24h);
    assert_eq!(
        s["upcomingRuns"].as_array().unwrap().len(),
        1,
        "paused jobs have no upcoming run"
    );
    assert_eq!(s["upcomingRuns"][0]["job"]["id"], j1.to_string());
    assert_eq!(s["recentExecutions"].as_array().unwrap().len(), 4);

    let analytics = api
        .graphql("{ analytics(days: 3, timezone: \"America/New_York\") { days successRate dailyTrend { date total success failed avgDurationMs } hourlyDistribution { hour count } durationPercentiles { p50 p95 p99 } topFailingJobs { job { id } failures } } }", json!({}), Some(&ada.access_token))
        .await;
    let a = &analytics["data"]["analytics"];
    assert_eq!(a["days"], 3, "{analytics}");
    assert_eq!(a["successRate"], 33.33);
    let day = |n: i64| (today - Duration::days(n)).format("%Y-%m-%d").to_string();
    assert_eq!(
        a["dailyTrend"],
        json!([
            {"date": day(2), "total": 1, "success": 0, "failed": 1, "avgDurationMs": 500.0},
            {"date": day(1), "total": 0, "success": 0, "failed": 0, "avgDurationMs": null},
            {"date": day(0), "total": 2, "success": 1, "failed": 1, "avgDurationMs": 200.0},
        ])
    );
    let hours = a["hourlyDistribution"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    for hour in hours {
        let expected = match hour["hour"].as_i64().unwrap() {
            1 => 2,
            23 => 1,
            _ => 0,
        };
        assert_eq!(hour["count"], expected, "{hour}");
    }
    // From the duration histogram: within 1 % of the runs' own 300, 480 and 496 ms.
    for (name, exact) in [("p50", 300.0), ("p95", 480.0), ("p99", 496.0)] {
        let counted = a["durationPercentiles"][name].as_f64().unwrap();
        assert!((counted - exact).abs() <= exact * 0.01, "{name}: {counted}");
    }
    let failing: HashSet<_> = a["topFailingJobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["job"]["id"].as_str().unwrap().to_owned(),
                f["failures"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failing,
        HashSet::from([(j1.to_string(), 1), (j2.to_string(), 1)])
    );

    for (query, field) in [
        ("{ analytics(days: 0) { days } }", "days"),
        ("{ analytics(days: 91) { days } }", "days"),
        (
            "{ analytics(timezone: \"Mars/Base\") { days } }",
            "timezone",
        ),
    ] {
        let response = api.graphql(query, json!({}), Some(&ada.access_token)).await;
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{response}"
        );
    }
}

#[tokio::test]
async fn upcoming_runs_are_the_active_jobs_that_fire_soonest() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let ada = api
        .signup_verified(&env.mail, "soon@example.com", "Password123!")
        .await;
    let mut ids = Vec::new();
    for (name, cron) in [
        ("yearly", "0 0 1 1 *"),
        ("minutely", "* * * * *"),
        ("hourly", "0 * * * *"),
    ] {
        let created = api
            .graphql(
                "mutation($input: CreateJobInput!) { createJob(input: $input) { id } }",
                json!({"input": {"name": name, "cronExpression": cron, "targetUrl": env.target.url("/soon")}}),
                Some(&ada.access_token),
            )
            .await;
        ids.push(created["data"]["createJob"]["id"].clone());
    }
    let stats = api
        .graphql(
            "{ stats { upcomingRuns { job { id name } nextRunAt } } }",
            json!({}),
            Some(&ada.access_token),
        )
        .await;
    let upcoming = stats["data"]["stats"]["upcomingRuns"].as_array().unwrap();
    let times: Vec<DateTime<Utc>> = upcoming
        .iter()
        .map(|run| run["nextRunAt"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "soonest first: {stats}"
    );
    // The minutely job fires soonest (the hourly one ties with it at minute 59).
    assert_eq!(upcoming.len(), 3, "{stats}");
    assert_eq!(upcoming[2]["job"]["name"], "yearly");
    let minutely = upcoming
        .iter()
        .position(|run| run["job"]["id"] == ids[1])
        .unwrap();
    assert_eq!(times[minutely], times[0]);
    let at = times[0];
    assert_eq!(at.timestamp() % 60, 0, "a whole minute: {at}");
    assert!(at > Utc::now() && at <= Utc::now() + Duration::seconds(61));
}
