//! A job's runs in the dashboard (headless Chromium): paged back through "Older runs", a
//! truncated response body flagged as such, and a notice's link (`/jobs/<job>?run=<run>`)
//! opening on that run.

use std::time::Duration;

use diesel_async::RunQueryDsl;
use serde_json::json;
use testkit::browser::Browser;
use testkit::fixtures::{self, JobSpec};
use testkit::{TestEnv, job_api};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_jobs_runs_page_back_and_flag_a_truncated_body() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    let rita = job_api::user(&env, api, "rita").await;
    let user: uuid::Uuid = rita.user_id.parse().unwrap();
    let mut spec = JobSpec::every_second(env.target.url("/x"));
    spec.status = db::JobStatus::Paused;
    let job = fixtures::job(&env.database, user, &spec).await;
    // 45 runs a minute apart; the newest has a body cut at 64 KiB, the fifth failed.
    let mut conn = env.database.connect().await;
    diesel::sql_query(format!(
        "INSERT INTO execution_logs (job_id, user_id, status, trigger, scheduled_for, started_at, finished_at, \
                                     duration_ms, http_status, error, response_body, response_body_truncated) \
         SELECT '{job}', '{user}', CASE WHEN i = 5 THEN 'FAILED' ELSE 'SUCCESS' END, 'SCHEDULE', \
                now() - i * interval '1 minute', now() - i * interval '1 minute', now() - i * interval '1 minute', \
                12, CASE WHEN i = 5 THEN 503 ELSE 200 END, CASE WHEN i = 5 THEN 'HTTP 503 Service Unavailable' END, \
                CASE WHEN i = 1 THEN repeat('x', 65536) ELSE 'run ' || i END, i = 1 \
         FROM generate_series(1, 45) AS i"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let runs = fixtures::runs(&env.database, job).await;
    let failed = runs.iter().find(|r| r.http_status == Some(503)).unwrap().id;

    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{}/login", api.base)).await;
    page.log_in("rita@example.com", "Password123!").await;
    page.wait_for_text("Runs, last 24 h", WAIT).await;

    // A notice's link opens on its run.
    page.goto(&format!("{}/jobs/{job}?run={failed}", api.base))
        .await;
    page.wait_for_text("HTTP 503 Service Unavailable", WAIT)
        .await;
    page.wait_for_text("Response body", WAIT).await;
    assert_eq!(
        page.evaluate("document.querySelector('tr.open').dataset.run", WAIT)
            .await,
        json!(failed.to_string())
    );
    page.wait_for(
        "document.querySelector('pre.body')?.innerText === 'run 5'",
        WAIT,
    )
    .await;

    // 20 at a time, back to the first.
    assert_eq!(page.count("tr[data-run]").await, 20);
    page.click("Older runs").await;
    page.wait_for(
        "document.querySelectorAll('tr[data-run]').length === 40",
        WAIT,
    )
    .await;
    page.click("Older runs").await;
    page.wait_for(
        "document.querySelectorAll('tr[data-run]').length === 45",
        WAIT,
    )
    .await;
    page.wait_for_text("Runs (45)", WAIT).await;
    assert!(!page.text().await.contains("Older runs"));

    // The newest run's body was cut: the page says so.
    page.click("Hide").await;
    page.evaluate(
        "document.querySelector('tr[data-run] button').click()",
        WAIT,
    )
    .await;
    page.wait_for_text("truncated at 64 KiB", WAIT).await;
    let shown = page
        .evaluate("document.querySelector('pre.body').innerText.length", WAIT)
        .await;
    assert_eq!(shown, json!(65536));
    page.screenshot("job-runs").await;
}
