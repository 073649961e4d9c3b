//! The `cronops` binary as a child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::{Api, free_port, poll_until};

/// The binary under test: `CRONOPS_BIN`, or the workspace's debug build.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("CRONOPS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/cronops")
        });
    assert!(
        path.exists(),
        "{} not found: build it first (`cargo build --bin cronops`, which `make test` does)",
        path.display()
    );
    path
}

/// A running `cronops` process, killed when dropped. Its output goes to a log file that
/// failing tests can print.
#[derive(Debug)]
pub struct Cronops {
    child: Child,
    log: PathBuf,
    /// The API's base URL, for server subcommands.
    pub api: Option<Api>,
}

impl Cronops {
    /// Stops every process gracefully and asserts each exited cleanly.
    pub async fn stop_all(processes: &mut [Cronops]) {
        for process in processes.iter_mut() {
            let status = process.terminate(std::time::Duration::from_secs(30)).await;
            assert!(
                status.success(),
                "scheduler exit {status}:\n{}",
                process.output()
            );
        }
    }

    /// Runs `cronops <args>` with exactly `vars` (plus PATH) in `workdir`.
    pub fn spawn(args: &[&str], vars: &[(String, String)], workdir: &Path) -> Cronops {
        let log = workdir.join(format!("cronops-{}-{}.log", args.join("-"), free_port()));
        let out = std::fs::File::create(&log).expect("create the process log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(binary())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .current_dir(workdir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn cronops");
        Cronops {
            child,
            log,
            api: None,
        }
    }

    /// Starts a server subcommand (`api`, `all`, `dev`) on a free port and waits until
    /// `/health` answers at all (200 or 503).
    pub async fn start_server(
        subcommand: &str,
        vars: Vec<(String, String)>,
        workdir: &Path,
    ) -> Cronops {
        Self::start_server_on(subcommand, vars, workdir, free_port()).await
    }

    /// [`Cronops::start_server`] on a given port (to start a server again where its
    /// clients knew it).
    pub async fn start_server_on(
        subcommand: &str,
        mut vars: Vec<(String, String)>,
        workdir: &Path,
        port: u16,
    ) -> Cronops {
        vars.retain(|(k, _)| k != "PORT" && k != "HOST");
        vars.push(("PORT".into(), port.to_string()));
        vars.push(("HOST".into(), "127.0.0.1".into()));
        let mut process = Cronops::spawn(&[subcommand], &vars, workdir);
        let api = Api::new(format!("http://127.0.0.1:{port}"));
        let probe = api.clone();
        let child = &mut process.child;
        let log = process.log.clone();
        poll_until(
            &format!("cronops {subcommand} to answer on port {port}"),
            Duration::from_secs(30),
            || {
                let exited = child.try_wait().expect("poll the child");
                let probe = probe.clone();
                let log = log.clone();
                async move {
                    if let Some(status) = exited {
                        panic!(
                            "cronops exited with {status} before answering:\n{}",
                            std::fs::read_to_string(log).unwrap_or_default()
                        );
                    }
                    probe.health_status().await.map(|_| ())
                }
            },
        )
        .await;
        process.api = Some(api);
        process
    }

    /// The API client of a server process.
    pub fn api(&self) -> &Api {
        self.api.as_ref().expect("a server subcommand")
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `timeout` for the exit (graceful shutdown).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let child = &mut self.child;
        poll_until("cronops to exit after SIGTERM", timeout, || {
            let status = child.try_wait().expect("poll the child");
            async move { status }
        })
        .await
    }

    /// Waits for a one-shot command to finish and returns its status and output.
    pub async fn wait_output(mut self, timeout: Duration) -> (ExitStatus, String) {
        let child = &mut self.child;
        let status = poll_until("cronops to exit", timeout, || {
            let status = child.try_wait().expect("poll the child");
            async move { status }
        })
        .await;
        (status, self.output())
    }
}

impl Drop for Cronops {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- cronops output ({}) ---\n{}",
                self.log.display(),
                self.output()
            );
        }
    }
}
