//! The dashboard without a mouse and on a small screen: keyboard order, the skip link,
//! visible focus, a confirmation dialog Escape cancels, search and filters, and no page
//! wider than a phone.

use std::time::Duration;

use serde_json::json;
use testkit::TestEnv;
use testkit::browser::Browser;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_app_works_from_the_keyboard_and_on_a_phone() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_api().await;
    let base = server.api().base.clone();
    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{base}/login")).await;
    page.wait_for_text("Log in", WAIT).await;

    // Tab reaches the fields in order, Enter submits, and focus is visible.
    page.press("Tab").await;
    page.call(
        "Input.insertText",
        json!({"text": "demo@cronops.dev"}),
        WAIT,
    )
    .await;
    page.press("Tab").await;
    page.call("Input.insertText", json!({"text": "Password123!"}), WAIT)
        .await;
    let outline = page
        .evaluate(
            "getComputedStyle(document.activeElement).outlineStyle",
            WAIT,
        )
        .await;
    assert_eq!(outline, json!("solid"), "a visible focus ring");
    page.press("Enter").await;
    page.wait_for_text("Runs, last 24 h", WAIT).await;

    // The first Tab on a page offers to skip the navigation.
    page.goto(&format!("{base}/jobs")).await;
    page.wait_for_text("Last 20 runs", WAIT).await;
    page.press("Tab").await;
    let focused = page
        .evaluate("document.activeElement.innerText", WAIT)
        .await;
    assert_eq!(focused, json!("Skip to content"));

    // Search and filter.
    page.fill("Search", "nightly").await;
    page.wait_for(
        "document.querySelectorAll('tr[data-job]').length === 1",
        WAIT,
    )
    .await;
    page.wait_for_text("Nightly report", WAIT).await;
    page.fill("Search", "").await;
    page.choose("Status", "PAUSED").await;
    page.wait_for(
        "[...document.querySelectorAll('tr[data-job] td:first-child')].map(td => td.innerText).join() === 'Weekly cleanup'",
        WAIT,
    )
    .await;

    // Delete asks first: Escape keeps the job, the dialog's button deletes it.
    page.click("Delete").await;
    page.wait_for("document.querySelector('dialog[open]') !== null", WAIT)
        .await;
    page.press("Escape").await;
    page.wait_for("document.querySelector('dialog[open]') === null", WAIT)
        .await;
    assert_eq!(page.count("tr[data-job]").await, 1);
    page.click("Delete").await;
    page.click("Delete job").await;
    page.wait_for_text("No job matches.", WAIT).await;
    page.choose("Status", "").await;
    page.wait_for_text("2 of 5 jobs", WAIT).await;

    // On a phone-sized screen nothing is wider than the screen.
    page.resize(390, 844).await;
    for path in ["/", "/jobs", "/jobs/new", "/settings"] {
        page.goto(&format!("{base}{path}")).await;
        page.wait_for("document.querySelector('h1') !== null", WAIT)
            .await;
        let overflow = page
            .evaluate(
                "document.documentElement.scrollWidth - window.innerWidth",
                WAIT,
            )
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{path} is {overflow} px too wide"
        );
    }
    page.goto(&format!("{base}/jobs")).await;
    page.wait_for_text("Next run", WAIT).await;
    page.screenshot("jobs-phone").await;
}

/// Adds what axe-core finds on the page, under `name`, to `problems`.
async fn audit(page: &mut testkit::browser::Page, name: &str, problems: &mut Vec<String>) {
    for problem in page.accessibility_problems().await {
        problems.push(format!("{name}: {problem}"));
    }
}

/// Every page as axe-core sees it: WCAG 2.1 A and AA, contrast included.
#[tokio::test]
async fn every_page_passes_the_wcag_checks_of_axe() {
    let env = TestEnv::development().await;
    env.seed().await;
    let server = env.start_all().await;
    let base = server.api().base.clone();
    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{base}/login")).await;
    let mut problems = Vec::new();

    for (path, shows) in [
        ("/login", "Log in"),
        ("/signup", "Create your account"),
        ("/forgot-password", "Reset your password"),
    ] {
        page.goto(&format!("{base}{path}")).await;
        page.wait_for_text(shows, WAIT).await;
        audit(&mut page, path, &mut problems).await;
    }
    page.goto(&format!("{base}/login")).await;
    page.log_in("admin@cronops.dev", "Admin123!").await;
    page.wait_for_text("Runs per day", WAIT).await;
    for (path, shows) in [
        ("/", "Runs per day"),
        ("/jobs", "Last 20 runs"),
        ("/jobs/new", "Next runs"),
        ("/settings", "Change password"),
        ("/admin", "Queue depth"),
        ("/admin/users", "demo@cronops.dev"),
        ("/admin/jobs", "API health check"),
        ("/admin/logs", "Status"),
    ] {
        page.goto(&format!("{base}{path}")).await;
        page.wait_for_text(shows, WAIT).await;
        audit(&mut page, path, &mut problems).await;
    }

    // A job's page with a run opened, and a confirmation dialog.
    page.click("Log out").await;
    page.log_in("demo@cronops.dev", "Password123!").await;
    page.click("Jobs").await;
    page.click("API health check").await;
    page.click("Run now").await;
    page.click("Details").await;
    page.wait_for_text("Response body", WAIT).await;
    audit(&mut page, "a job", &mut problems).await;
    page.click("Delete").await;
    page.wait_for("document.querySelector('dialog[open]') !== null", WAIT)
        .await;
    audit(&mut page, "a confirmation", &mut problems).await;

    assert!(problems.is_empty(), "{problems:#?}");
}
