//! A private PostgreSQL cluster for tests that stop and restart the database without
//! touching the shared one. As root it runs as Debian's `postgres` user (PostgreSQL
//! refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::free_port;

/// A throwaway cluster on a loopback port, stopped and deleted when dropped.
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL installed under /usr/lib/postgresql (make test installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL program, as `postgres` when we are root.
fn pg(program: &Path, args: &[&str]) -> bool {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl PgServer {
    /// Creates a cluster (initdb) and starts it.
    pub fn start() -> PgServer {
        let dir =
            std::env::temp_dir().join(format!("cronops-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster folder");
        if is_root() {
            assert!(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&dir)
                    .status()
                    .is_ok_and(|s| s.success()),
                "chown the cluster folder to postgres"
            );
        }
        let server = PgServer {
            port: free_port(),
            bin: bin_dir(),
            dir,
        };
        let data = server.dir.join("data");
        assert!(
            pg(
                &server.bin.join("initdb"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale"
                ],
            ),
            "initdb failed"
        );
        server.resume();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast shutdown: sessions are cut, committed data stays).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        assert!(
            pg(
                &self.bin.join("pg_ctl"),
                &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]
            ),
            "pg_ctl stop failed"
        );
    }

    /// Starts the server again on the same port.
    pub fn resume(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=",
            self.port
        );
        assert!(
            pg(
                &self.bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().unwrap(),
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &options,
                    "start"
                ],
            ),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        pg(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
