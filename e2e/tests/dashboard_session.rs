//! The dashboard's session in a real browser: an expiring access token is refreshed and the
//! socket it closed comes back; the API goes away and comes back; a forgotten password is
//! reset from the mailed link; the account's name and password change.

use std::time::Duration;

use serde_json::json;
use testkit::browser::{Browser, Page};
use testkit::{Cronops, TestEnv};

const WAIT: Duration = Duration::from_secs(20);

/// Waits until the page's feed counts a run more than it does now.
async fn more_runs_arrive(page: &mut Page) {
    let finished = "Number(document.querySelector('[data-finished]').dataset.finished)";
    let seen = page.evaluate(finished, WAIT).await.as_u64().unwrap();
    page.wait_for(&format!("{finished} > {seen}"), WAIT).await;
}

#[tokio::test]
async fn the_app_refreshes_its_session_and_comes_back_when_the_socket_drops() {
    let env = TestEnv::new().await;
    // Access tokens that expire every 5 s: the socket is closed (4401) each time.
    let vars = env.vars_with(&[("JWT_ACCESS_EXPIRES_IN", "5s")]);
    let server = Cronops::start_server("all", vars, env.workdir.path()).await;
    let api = server.api();
    let eve = testkit::job_api::user(&env, api, "eve").await;
    env.every_second_job(eve.user_id.parse().unwrap(), "/tick")
        .await;

    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{}/login", api.base)).await;
    page.log_in("eve@example.com", "Password123!").await;
    page.wait_for(
        "document.querySelector('[data-state]')?.dataset.state === 'live'",
        WAIT,
    )
    .await;
    let first_token = page
        .evaluate(
            "JSON.parse(localStorage.getItem('cronops.session')).accessToken",
            WAIT,
        )
        .await;
    page.evaluate("window.stayed = true", WAIT).await;

    // The token expires, the socket is closed: the app reconnects with a fresh token and
    // says that it did; runs keep arriving.
    page.wait_for(
        "document.querySelector('[data-state]').dataset.state === 'live'
           && Number(document.querySelector('[data-state]').dataset.reconnects) >= 1",
        WAIT,
    )
    .await;
    page.wait_for_text("Live (reconnected", WAIT).await;
    more_runs_arrive(&mut page).await;

    // Requests go on with refreshed tokens; nothing needed a reload or a new login.
    page.click("Jobs").await;
    page.wait_for_text("fixture job", WAIT).await;
    let token = page
        .evaluate(
            "JSON.parse(localStorage.getItem('cronops.session')).accessToken",
            WAIT,
        )
        .await;
    assert_ne!(token, first_token, "the access token was refreshed");
    assert_eq!(
        page.evaluate("window.stayed === true", WAIT).await,
        json!(true)
    );
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_mailed_link_and_the_account_edited() {
    let env = TestEnv::new().await;
    let server = env.start_api().await;
    let api = server.api();
    testkit::job_api::user(&env, api, "finn").await;
    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{}/login", api.base)).await;
    page.click("Forgot your password?").await;
    page.fill("Email", "finn@example.com").await;
    page.click("Email me a link").await;
    page.wait_for_text("is on its way", WAIT).await;

    // The mailed link opens this dashboard (FRONTEND_URL is unset).
    let mail = env.mail.wait_for("finn@example.com", 2, WAIT).await;
    let text = mail.text();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/reset-password?token="))
        .expect("a reset link");
    let port = api.base.rsplit(':').next().unwrap();
    assert!(
        link.starts_with(&format!("http://localhost:{port}/")),
        "{link}"
    );
    page.goto(link).await;
    page.wait_for_text("Choose a new password", WAIT).await;
    let address = page.evaluate("location.href", WAIT).await;
    assert!(
        !address.as_str().unwrap().contains("token"),
        "the token left the address bar: {address}"
    );
    page.fill("New password", "weak").await;
    page.click("Set password").await;
    page.wait_for("document.querySelector('.field.invalid') !== null", WAIT)
        .await;
    page.fill("New password", "Brand-new-pass1").await;
    page.click("Set password").await;
    page.wait_for_text("Your password is changed", WAIT).await;

    // The new password logs in; the name and password change from Settings.
    page.click("Log in").await;
    page.log_in("finn@example.com", "Brand-new-pass1").await;
    page.click("Settings").await;
    page.fill("Name", "Finn Again").await;
    page.click("Save name").await;
    page.wait_for(
        "document.querySelector('.who')?.innerText === 'Finn Again'",
        WAIT,
    )
    .await;
    page.fill("Current password", "wrong-password-1").await;
    page.fill("New password", "Another-pass-2").await;
    page.click("Change password").await;
    page.wait_for(
        "document.querySelector('.panel .problem, .panel .error') !== null",
        WAIT,
    )
    .await;
    page.fill("Current password", "Brand-new-pass1").await;
    page.click("Change password").await;
    page.wait_for_text("Password changed.", WAIT).await;
    let login = api.login("finn@example.com", "Another-pass-2").await;
    assert!(login["errors"].is_null(), "{login}");
}

#[tokio::test]
async fn the_app_says_when_the_api_went_away_and_carries_on_when_it_is_back() {
    let env = TestEnv::new().await;
    let port = testkit::free_port();
    let mut api_process =
        Cronops::start_server_on("api", env.vars(), env.workdir.path(), port).await;
    let api = api_process.api().clone();
    let _scheduler = env.start_scheduler();
    let gil = testkit::job_api::user(&env, &api, "gil").await;
    env.every_second_job(gil.user_id.parse().unwrap(), "/beat")
        .await;

    let browser = Browser::start().await;
    let mut page = browser.open(&format!("{}/login", api.base)).await;
    page.log_in("gil@example.com", "Password123!").await;
    page.wait_for(
        "document.querySelector('[data-state]')?.dataset.state === 'live'",
        WAIT,
    )
    .await;
    page.wait_for(
        "Number(document.querySelector('[data-finished]')?.dataset.finished) >= 1",
        WAIT,
    )
    .await;
    page.evaluate("window.stayed = true", WAIT).await;

    // The API dies: the page says the live link is coming back.
    api_process.kill();
    page.wait_for_text("Reconnecting…", WAIT).await;
    page.screenshot("reconnecting").await;

    // Started again on the same address: the link is back, and says it came back.
    let _again = Cronops::start_server_on("api", env.vars(), env.workdir.path(), port).await;
    page.wait_for_text("Live (reconnected)", WAIT).await;
    more_runs_arrive(&mut page).await;
    assert_eq!(
        page.evaluate("window.stayed === true", WAIT).await,
        json!(true)
    );
}
