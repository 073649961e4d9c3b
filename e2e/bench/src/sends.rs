//! `sends`: the floor under lateness, requests sent at once through the scheduler's
//! HTTP client with nothing else running.

use super::*;

pub async fn sends(requests: usize, smoke: bool) -> Vec<Figure> {
    let target = testkit::target::HttpTarget::start().await;
    let executor = scheduler::execute::Executor::new(scheduler::ssrf::TargetPolicy {
        allow_private: true,
        ..Default::default()
    });
    let request = |i: usize| scheduler::execute::Request {
        job_id: Uuid::new_v4(),
        execution_id: Uuid::new_v4(),
        scheduled_for: Utc::now(),
        attempt: 1,
        method: db::HttpMethod::Get,
        url: target.url(&format!("/send/{i}")),
        headers: Vec::new(),
        body: None,
        timeout: Duration::from_secs(30),
        criteria: None,
        signing: None,
        unsent: None,
        redact: None,
    };
    let send_all = || async {
        let start = Utc::now();
        let handles: Vec<_> = (0..requests)
            .map(|i| {
                let (executor, request) = (executor.clone(), request(i));
                // Fully qualified: diesel's RunQueryDsl, in scope here, has an `execute` too.
                tokio::spawn(async move {
                    scheduler::execute::Executor::execute(&executor, &request).await
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.await.unwrap().status, db::ExecutionStatus::Success);
        }
        let last = target.received().iter().map(|r| r.received_at).max();
        (last.unwrap_or(start) - start).num_milliseconds().max(1)
    };
    // The first round opens the connections, as a running scheduler has them.
    send_all().await;
    let spread = send_all().await;
    vec![Figure {
        scenario: "sends",
        what: format!(
            "{requests} requests at once, one process, the scheduler's HTTP client to the sink, nothing else running: last arrival after"
        ),
        value: format!(
            "{spread} ms ({:.0} requests/s): the floor under lateness for {requests} runs sharing one instant",
            requests as f64 * 1000.0 / spread as f64
        ),
        target: "(no target: explains lateness)",
        command: cmd(&format!("sends --requests {requests}"), smoke),
    }]
}
