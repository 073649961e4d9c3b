//! The dashboard's performance budget, measured in a real browser (figures are printed
//! and written to `target/dashboard/budget.json`, never asserted as times): the jobs page
//! of a user with 500 jobs, and the overview while 100 runs a second stream in for a
//! minute. What is asserted: nothing is dropped (every finished run reached the page),
//! and the page does not grow (its run list is capped, its DOM and heap level off).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::browser::{Browser, Page, screenshots};
use testkit::target::Reply;
use testkit::{TestEnv, fixtures, job_api, poll_until};

const WAIT: Duration = Duration::from_secs(30);
const LIVE_JOBS: usize = 100;
const STREAM: Duration = Duration::from_secs(60);

/// The finished runs of the `live` jobs, and whether any is still to come or under way.
async fn finished_runs(env: &TestEnv, live: &[uuid::Uuid]) -> (usize, bool) {
    use db::ExecutionStatus as S;
    let runs = fixtures::all_runs(&env.database).await;
    let mine = runs.iter().filter(|r| live.contains(&r.job_id));
    let (mut finished, mut busy) = (0, false);
    for run in mine {
        match run.status {
            S::Success | S::Failed | S::Timeout => finished += 1,
            S::Prepared | S::Pending | S::Running => busy = true,
            S::Skipped => {}
        }
    }
    (finished, busy)
}

/// The page's heap (after a full collection) and its element count.
async fn footprint(page: &mut Page) -> (f64, u64) {
    let value = page
        .evaluate(
            "(async () => { gc(); await new Promise(r => setTimeout(r, 100)); gc();
               return [performance.memory.usedJSHeapSize, document.getElementsByTagName('*').length]; })()",
            WAIT,
        )
        .await;
    (value[0].as_f64().unwrap(), value[1].as_u64().unwrap())
}

#[tokio::test]
async fn the_dashboard_keeps_its_budget_with_500_jobs_and_100_runs_a_second() {
    let env = TestEnv::new().await;
    let server = env.start_all().await;
    let api = server.api();
    let busy = job_api::pro_user(&env, api, "busy").await;
    let token = Some(busy.access_token.as_str());

    // 400 jobs that run once a year and 100 that run every second, tagged `live`, paused
    // until the page is watching.
    let mut jobs: Vec<Value> = (0..400)
        .map(|i| {
            json!({"name": format!("yearly report {i:03}"), "cronExpression": "0 0 1 1 *",
                        "targetUrl": env.target.url("/yearly")})
        })
        .collect();
    // One in ten fails (its target answers 500), so failures are drawn too.
    env.target.reply(
        "/flaky",
        Reply {
            status: 500,
            body: "down".into(),
            ..Reply::default()
        },
    );
    jobs.extend((0..LIVE_JOBS).map(|i| {
        let (name, path) = if i % 10 == 0 {
            ("flaky sync", "/flaky")
        } else {
            ("heartbeat", "/live")
        };
        json!({"name": format!("{name} {i:03}"), "cronExpression": "* * * * * *",
               "targetUrl": env.target.url(path), "tags": ["live"]})
    }));
    let document = json!({"format": "cronops.jobs", "version": 1, "jobs": jobs});
    let imported = api
        .graphql(
            "mutation($d: JSON!) { importJobs(document: $d) { created } }",
            json!({"d": document}),
            token,
        )
        .await;
    assert_eq!(imported["data"]["importJobs"]["created"], 500, "{imported}");
    let toggle = |verb: &'static str| {
        let query = format!("mutation {{ {verb}(tag: \"live\") }}");
        async move {
            let answer = api.graphql(&query, json!({}), token).await;
            assert_eq!(answer["data"][verb], LIVE_JOBS, "{answer}");
        }
    };
    toggle("pauseJobs").await;
    let live: Vec<uuid::Uuid> = {
        let listed = api
            .graphql(
                "{ jobs(first: 100, tag: \"live\") { edges { node { id } } } }",
                json!({}),
                token,
            )
            .await;
        listed["data"]["jobs"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(live.len(), LIVE_JOBS);

    let browser =
        Browser::start_with(&["--enable-precise-memory-info", "--js-flags=--expose-gc"]).await;
    let mut page = browser.open(&format!("{}/login", api.base)).await;
    page.log_in("busy@example.com", "Password123!").await;
    page.wait_for_text("Runs, last 24 h", WAIT).await;

    // The jobs page, loaded afresh five times: from navigation to the first 50 rows.
    let mut shown = Vec::new();
    for _ in 0..5 {
        page.goto(&format!("{}/jobs", api.base)).await;
        page.wait_for(
            "performance.getEntriesByName('cronops:jobs-shown').length === 1",
            WAIT,
        )
        .await;
        let ms = page
            .evaluate(
                "performance.getEntriesByName('cronops:jobs-shown')[0].startTime",
                WAIT,
            )
            .await;
        shown.push(ms.as_f64().unwrap());
    }
    page.wait_for_text("500 jobs", WAIT).await;
    assert_eq!(
        page.evaluate("document.querySelectorAll('tr[data-job]').length", WAIT)
            .await,
        json!(50)
    );
    // ... and every one of the 500, a page of 50 at a time.
    let started = Instant::now();
    for shown in (100..=500).step_by(50) {
        page.click("Show more jobs").await;
        let condition = format!("document.querySelectorAll('tr[data-job]').length === {shown}");
        page.wait_for(&condition, WAIT).await;
    }
    let all_500_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Acting on a row of a later page changes that row and keeps the pages shown.
    page.click("Pause yearly report 000").await;
    page.wait_for(
        "[...document.querySelectorAll('tr[data-job]')].some(r => r.innerText.includes('yearly report 000') && r.innerText.includes('Paused'))",
        WAIT,
    )
    .await;
    assert_eq!(page.count("tr[data-job]").await, 500);
    page.screenshot("jobs-500").await;

    // The overview, watching: then 100 jobs a second for a minute.
    page.goto(&format!("{}/", api.base)).await;
    page.wait_for(
        "document.querySelector('[data-state]')?.dataset.state === 'live'",
        WAIT,
    )
    .await;
    page.evaluate(
        "window.probe = { maxGap: 0, frames: 0, longTasks: 0, longTaskMs: 0 };
         let last = performance.now();
         const frame = (t) => { probe.maxGap = Math.max(probe.maxGap, t - last); probe.frames++; last = t; requestAnimationFrame(frame); };
         requestAnimationFrame(frame);
         new PerformanceObserver((list) => { for (const e of list.getEntries()) { probe.longTasks++; probe.longTaskMs += e.duration; } })
           .observe({ type: 'longtask' });
         true",
        WAIT,
    )
    .await;
    let (before, _) = finished_runs(&env, &live).await;
    toggle("resumeJobs").await;
    let streaming = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (warm_heap, warm_nodes) = footprint(&mut page).await;
    tokio::time::sleep(STREAM.saturating_sub(streaming.elapsed())).await;
    let (end_heap, end_nodes) = footprint(&mut page).await;
    toggle("pauseJobs").await;
    let streamed = streaming.elapsed();

    // Every run that finished reached the page, once.
    let (after, _) = poll_until("the live runs to finish", WAIT, || async {
        let (finished, busy) = finished_runs(&env, &live).await;
        (!busy).then_some((finished, busy))
    })
    .await;
    let expected = after - before;
    let condition =
        format!("Number(document.querySelector('[data-finished]').dataset.finished) >= {expected}");
    page.wait_for(&condition, WAIT).await;
    let probe = page.evaluate("window.probe", WAIT).await;
    let seen = page
        .evaluate(
            "Number(document.querySelector('[data-finished]').dataset.finished)",
            WAIT,
        )
        .await;
    assert_eq!(seen, json!(expected), "events reached the page");
    // The whole overview, charts and feed (the README's picture is one of these).
    page.resize(1280, 1500).await;
    page.screenshot("overview").await;
    let rows = page
        .evaluate(
            "document.querySelectorAll('.feed tr[data-run]').length",
            WAIT,
        )
        .await;
    assert_eq!(rows, json!(100), "the feed keeps the newest 100 runs");
    assert!(
        end_nodes <= warm_nodes + 200,
        "DOM grew from {warm_nodes} to {end_nodes} elements"
    );
    assert!(
        end_heap < warm_heap * 2.0,
        "heap grew from {warm_heap} to {end_heap} bytes"
    );

    shown.sort_by(f64::total_cmp);
    let figures = json!({
        "jobs_page_first_50_ms": {"median": shown[2], "min": shown[0], "max": shown[4]},
        "jobs_page_all_500_ms": all_500_ms.round(),
        "live_runs_finished": expected,
        "live_runs_per_second": (expected as f64 / streamed.as_secs_f64() * 10.0).round() / 10.0,
        "longest_frame_gap_ms": probe["maxGap"],
        "frames": probe["frames"],
        "long_tasks": probe["longTasks"],
        "long_task_ms": probe["longTaskMs"],
        "heap_bytes": {"after_10_s": warm_heap, "after_60_s": end_heap},
        "elements": {"after_10_s": warm_nodes, "after_60_s": end_nodes},
    });
    println!("dashboard budget: {figures:#}");
    std::fs::create_dir_all(screenshots()).unwrap();
    std::fs::write(screenshots().join("budget.json"), format!("{figures:#}\n")).unwrap();
}
