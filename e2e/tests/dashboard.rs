//! The dashboard in a real browser (headless Chromium) against real processes: a person
//! signs up with the emailed code, upgrades, is told what is wrong with a schedule,
//! creates a job against the test target, watches its runs arrive, opens one, runs it,
//! pauses and edits it; an admin watches every user's runs live. Screenshots of each page
//! are written to `target/dashboard/`. And how the API serves the app.

use std::time::Duration;

use serde_json::json;
use testkit::accounts::find_code;
use testkit::browser::Browser;
use testkit::target::Reply;
use testkit::{Cronops, TestEnv, fixtures};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_person_signs_up_creates_a_job_watches_it_and_pauses_it() {
    let env = TestEnv::development().await;
    env.seed().await;
    // The default per-address rate limit, which the kit otherwise lifts: a person using
    // the dashboard stays within it.
    let mut vars = env.vars();
    vars.retain(|(name, _)| name != "RATE_LIMIT_MAX_REQUESTS");
    let server = Cronops::start_server("all", vars, env.workdir.path()).await;
    let base = server.api().base.clone();
    env.target.reply(
        "/heartbeat",
        Reply {
            body: "<script>alert('not run')</script> all good".into(),
            headers: vec![("content-type".into(), "text/html".into())],
            ..Reply::default()
        },
    );

    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{base}/")).await;

    // Logged out, the app shows the login page; from there, an account.
    page.wait_for_text("Log in", WAIT).await;
    assert_eq!(
        page.unlabelled_controls().await,
        Vec::<String>::new(),
        "the login page"
    );
    page.screenshot("login").await;
    page.click("Create an account").await;
    page.fill("Name", "Dana").await;
    page.fill("Email", "dana@example.com").await;
    page.fill("Password", "Dashboard1!").await;
    page.click("Sign up").await;
    page.wait_for_text("Check your email", WAIT).await;
    let mail = env.mail.wait_for("dana@example.com", 1, WAIT).await;
    let code = find_code(&mail.text()).expect("a code in the mail");
    page.fill("Code", &code).await;
    page.click("Verify").await;

    // In: the overview, with the socket up.
    page.wait_for_text("Runs, last 24 h", WAIT).await;
    page.wait_for(
        "document.querySelector('[data-state]')?.dataset.state === 'live'",
        WAIT,
    )
    .await;

    // Upgrade from the jobs page's plan usage.
    page.click("Jobs").await;
    page.wait_for_text("0 of 5 jobs", WAIT).await;
    page.click("Upgrade").await;
    page.click("Switch to PRO").await;
    page.wait_for(
        "document.querySelector('.plan.current h3')?.innerText === 'PRO'",
        WAIT,
    )
    .await;
    page.screenshot("settings").await;

    // A schedule that is not one is refused next to its field, as it is typed.
    page.click("Jobs").await;
    page.click("New job").await;
    page.fill("Name", "Heartbeat").await;
    page.fill("Cron expression", "61 * * * *").await;
    page.wait_for(
        "[...document.querySelectorAll('.field.invalid label')].some(l => l.innerText === 'Cron expression')",
        WAIT,
    )
    .await;
    let error = page
        .evaluate(
            "document.querySelector('.field.invalid .error').innerText",
            WAIT,
        )
        .await;
    assert!(
        error.as_str().unwrap().contains("invalid cron expression"),
        "{error}"
    );
    assert_eq!(
        page.unlabelled_controls().await,
        Vec::<String>::new(),
        "the job form"
    );
    page.screenshot("job-form-error").await;

    // A good one previews its next runs and reads in words.
    page.fill("Cron expression", "*/2 * * * * *").await;
    page.fill("Time zone", "America/New_York").await;
    page.wait_for(
        "document.querySelectorAll('.preview li').length === 5",
        WAIT,
    )
    .await;
    page.wait_for_text("Every 2 seconds, New York time", WAIT)
        .await;
    page.fill("URL", &env.target.url("/heartbeat")).await;
    page.screenshot("job-form").await;

    // More than half the interval of jitter: refused at its field, which is unfolded.
    page.evaluate("document.querySelector('details.more').open = true", WAIT)
        .await;
    page.fill("Jitter (seconds)", "5").await;
    page.evaluate("document.querySelector('details.more').open = false", WAIT)
        .await;
    page.click("Create job").await;
    page.wait_for(
        "[...document.querySelectorAll('.field.invalid label')].some(l => l.innerText === 'Jitter (seconds)')
           && document.querySelector('details.more').open",
        WAIT,
    )
    .await;
    page.fill("Jitter (seconds)", "0").await;
    page.click("Create job").await;

    // The job's page: runs arrive without a reload.
    page.wait_for(
        "document.querySelector('h1')?.innerText === 'Heartbeat'",
        WAIT,
    )
    .await;
    page.evaluate("window.stayed = true", WAIT).await;
    page.wait_for(
        "document.querySelectorAll('tr[data-status=SUCCESS]').length >= 2",
        WAIT,
    )
    .await;
    assert_eq!(
        page.evaluate("window.stayed === true", WAIT).await,
        json!(true)
    );
    let job_id = page
        .evaluate("location.pathname.split('/')[2]", WAIT)
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let recorded = fixtures::runs(&env.database, job_id.parse().unwrap()).await;
    assert!(recorded.len() >= 2, "{} runs recorded", recorded.len());
    assert!(!env.target.received_on("/heartbeat").is_empty());

    // The jobs list follows too: the job's strip of runs grows while it is shown.
    page.click("Jobs").await;
    page.wait_for(
        "document.querySelector('tr[data-job] .strip') !== null",
        WAIT,
    )
    .await;
    let marks = page.count("tr[data-job] .strip .mark").await;
    let grown = format!("document.querySelectorAll('tr[data-job] .strip .mark').length > {marks}");
    page.wait_for(&grown, WAIT).await;
    assert_eq!(
        page.evaluate("window.stayed === true", WAIT).await,
        json!(true)
    );
    page.click("Heartbeat").await;
    page.wait_for(
        "document.querySelectorAll('tr[data-run]').length >= 2",
        WAIT,
    )
    .await;

    // A run opens to its response body, shown as text: the target's markup is not run.
    page.click("Details").await;
    page.wait_for_text("all good", WAIT).await;
    let body = page
        .evaluate("document.querySelector('pre.body').innerText", WAIT)
        .await;
    assert_eq!(body, json!("<script>alert('not run')</script> all good"));
    assert_eq!(page.count("pre.body script").await, 0);
    page.screenshot("job").await;

    // Pause: the page says so, and so does the database.
    page.click("Pause").await;
    page.wait_for(
        "document.querySelector('.facts .badge')?.innerText === 'Paused'",
        WAIT,
    )
    .await;
    let row = fixtures::job_row(&env.database, job_id.parse().unwrap()).await;
    assert_eq!(row.status, db::JobStatus::Paused);

    // Run now, while paused: the manual run arrives live at the top.
    let before = page.count("tr[data-run]").await;
    page.click("Run now").await;
    let more = format!("document.querySelectorAll('tr[data-run]').length > {before}");
    page.wait_for(&more, WAIT).await;
    page.wait_for(
        "document.querySelector('tr[data-run]').dataset.status === 'SUCCESS'",
        WAIT,
    )
    .await;

    // Edit: the form opens with the job's values; the change is saved.
    page.click("Edit").await;
    page.wait_for(
        "document.querySelector('input[name=cronExpression]')?.value === '*/2 * * * * *'",
        WAIT,
    )
    .await;
    page.fill("Name", "Heartbeat (edited)").await;
    page.click("Save changes").await;
    page.wait_for(
        "document.querySelector('h1')?.innerText === 'Heartbeat (edited)'",
        WAIT,
    )
    .await;
    let row = fixtures::job_row(&env.database, job_id.parse().unwrap()).await;
    assert_eq!(row.name, "Heartbeat (edited)");

    // The list shows it with its strip of runs.
    page.click("Jobs").await;
    page.wait_for_text("1 of 500 jobs", WAIT).await;
    page.wait_for_text("Every 2 seconds, New York time", WAIT)
        .await;
    assert!(page.count("tr[data-job] .strip .mark.success").await >= 2);
    page.screenshot("jobs").await;

    // Everything came from the API itself: no CDN, no other origin.
    let origins = page
        .evaluate(
            "[...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).origin))]",
            WAIT,
        )
        .await;
    assert!(
        origins
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o == &json!(base)),
        "{origins}"
    );

    // An admin sees every user's runs live.
    page.click("Log out").await;
    page.wait_for_text("Log in", WAIT).await;
    let dana = fixtures::job_row(&env.database, job_id.parse().unwrap())
        .await
        .user_id;
    env.every_second_job(dana, "/other").await;
    page.log_in("admin@cronops.dev", "Admin123!").await;
    page.click("Admin").await;
    page.wait_for_text("Queue depth", WAIT).await;
    // The numbers come pushed by the systemStats subscription.
    page.wait_for_text("· updated ", WAIT).await;
    page.wait_for(
        "Number(document.querySelector('[data-finished]')?.dataset.finished) >= 2",
        WAIT,
    )
    .await;
    page.wait_for(
        "document.querySelectorAll('.feed tr[data-run]').length >= 2",
        WAIT,
    )
    .await;
    page.screenshot("admin").await;
    page.click("Users").await;
    page.wait_for_text("dana@example.com", WAIT).await;
    assert_eq!(
        page.unlabelled_controls().await,
        Vec::<String>::new(),
        "the admin's users"
    );
    page.click("All jobs").await;
    page.wait_for_text("Heartbeat (edited)", WAIT).await;
    page.click("All runs").await;
    page.wait_for(
        "document.querySelectorAll('tr[data-run]').length >= 2",
        WAIT,
    )
    .await;

    // Make Dana an admin, then delete her account (after a confirmation).
    page.click("Users").await;
    page.choose("Role of dana@example.com", "ADMIN").await;
    testkit::poll_until("Dana to be an admin", WAIT, || async {
        let mut conn = env.database.connect().await;
        let user = db::models::User::find_optional(&mut conn, dana)
            .await
            .unwrap();
        (user.unwrap().role == db::Role::Admin).then_some(())
    })
    .await;
    page.click("Delete dana@example.com").await;
    page.click("Delete user").await;
    page.wait_for(
        "!document.body.innerText.includes('dana@example.com')",
        WAIT,
    )
    .await;
    let mut conn = env.database.connect().await;
    let gone = db::models::User::find_optional(&mut conn, dana)
        .await
        .unwrap();
    assert!(gone.is_none(), "Dana's account is deleted");
}

#[tokio::test]
async fn the_api_serves_the_app_from_the_binary_at_its_own_paths_only() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let base = &server.api().base;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for rule in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(rule), "{csp}");
    }
    assert_eq!(
        headers["referrer-policy"], "no-referrer",
        "mailed tokens stay in the page"
    );
    let html = page.text().await.unwrap();
    let script = html
        .split('"')
        .find(|part| part.starts_with("/assets/app-") && part.ends_with(".js"))
        .expect("the page names its script")
        .to_owned();

    // Each of the app's paths is the page; anything else is not.
    let job = uuid::Uuid::new_v4();
    for path in [
        "/login",
        "/jobs",
        &format!("/jobs/{job}"),
        &format!("/jobs/{job}/edit"),
        "/admin/users",
        "/reset-password?token=x",
    ] {
        let answer = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap(), html, "{path}");
    }
    for path in [
        "/favicon.ico",
        "/.env",
        "/jobs/x.php",
        "/assets/nope.js",
        "/api",
    ] {
        let answer = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    let post = http.post(format!("{base}/jobs")).send().await.unwrap();
    assert_eq!(post.status(), 405, "the page answers GET only");
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    // The script: kept for good, compressed when asked.
    let asset = http
        .get(format!("{base}{script}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()["content-type"], "text/javascript");
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()["content-encoding"], "gzip");
}
