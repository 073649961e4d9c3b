//! Per-test databases (feature `test-utils`), as crates.io's `crates_io_test_db` does it.
//!
//! The first test of a run migrates a template database, under an advisory lock so that
//! parallel test processes build it once; every test then gets its own database copied
//! from the template (fast, and isolated) and dropped when the test ends.
//!
//! The cluster is the one `make test` starts: `TEST_DATABASE_URL` names its maintenance
//! database (default `postgres://postgres@127.0.0.1:15432/postgres`).

use std::hash::{Hash, Hasher};
use std::path::Path;

use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

/// Where the test cluster's maintenance database is, unless `TEST_DATABASE_URL` says.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:15432/postgres";

/// A database of one's own for one test, dropped on drop.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The test cluster's maintenance database: `TEST_DATABASE_URL`, else [`DEFAULT_ADMIN_URL`].
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `admin_url` with its database name replaced.
fn url_for(admin_url: &str, database: &str) -> String {
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL must look like postgres://user@host:port/database");
    format!("{base}/{database}")
}

async fn admin_connection(admin_url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL at {admin_url} ({e}); start it with `make test` \
             (or `scripts/services.sh up`), or set TEST_DATABASE_URL"
            )
        })
}

/// A name that changes whenever any migration file changes, so a stale template is
/// never reused.
fn template_name() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.strip_prefix(&dir).unwrap_or(&file).hash(&mut hasher);
        std::fs::read(&file)
            .expect("migration file readable")
            .hash(&mut hasher);
    }
    format!("cronops_test_template_{:016x}", hasher.finish())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations directory readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .execute(conn)
        .await
        .expect("query pg_database")
        == 1
}

async fn ensure_template(admin_url: &str) -> String {
    let name = template_name();
    let mut conn = admin_connection(admin_url).await;
    // Serialises template creation across the parallel test processes of one run.
    diesel::sql_query("SELECT pg_advisory_lock(7011960001)")
        .execute(&mut conn)
        .await
        .expect("take the template lock");
    if !database_exists(&mut conn, &name).await {
        let building = format!("{name}_building");
        diesel::sql_query(format!(
            "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
        ))
        .execute(&mut conn)
        .await
        .expect("drop a half-built template");
        diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
            .execute(&mut conn)
            .await
            .expect("create the template database");
        crate::migrate::run_pending(&url_for(admin_url, &building))
            .await
            .expect("migrate the template database");
        // Renamed only once complete, so a crash never leaves a half-migrated template.
        diesel::sql_query(format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
        ))
        .execute(&mut conn)
        .await
        .expect("publish the template database");
    }
    diesel::sql_query("SELECT pg_advisory_unlock(7011960001)")
        .execute(&mut conn)
        .await
        .expect("release the template lock");
    name
}

impl TestDatabase {
    /// A fresh, fully migrated database.
    pub async fn new() -> TestDatabase {
        let admin_url = admin_url();
        let template = TEMPLATE
            .get_or_init(|| ensure_template(&admin_url))
            .await
            .clone();
        Self::create(admin_url, Some(&template)).await
    }

    /// A fresh database with no tables at all (for migration tests).
    pub async fn empty() -> TestDatabase {
        Self::create(admin_url(), None).await
    }

    async fn create(admin_url: String, template: Option<&str>) -> TestDatabase {
        let name = format!("cronops_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection(&admin_url).await;
        let sql = match template {
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .expect("create the test database");
        TestDatabase {
            url: url_for(&admin_url, &name),
            name,
            admin_url,
        }
    }

    /// The connection URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A direct connection to this test's database.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// A pool on this test's database.
    pub fn pool(&self) -> crate::Pool {
        crate::pool::build(&self.url, 8)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime; a thread of its own works in both.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database");
            runtime.block_on(async move {
                let mut conn = AsyncPgConnection::establish(&admin_url).await?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map(drop)
                    .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Checks `sql`'s single boolean answer on the test database; a small helper for schema tests.
pub async fn query_bool(conn: &mut AsyncPgConnection, sql: &str) -> bool {
    #[derive(QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        value: bool,
    }
    diesel::sql_query(sql)
        .get_result::<Answer>(conn)
        .await
        .expect("boolean query")
        .value
}

/// A RUNNING run of a made-up job of `user_id`, started now: what tests and benchmarks
/// publish as a live event without a job behind it.
pub fn running_log(user_id: uuid::Uuid) -> crate::models::ExecutionLog {
    let now = chrono::Utc::now();
    crate::models::ExecutionLog {
        id: uuid::Uuid::new_v4(),
        job_id: uuid::Uuid::new_v4(),
        user_id,
        status: crate::ExecutionStatus::Running,
        trigger: crate::ExecutionTrigger::Schedule,
        attempt: 1,
        scheduled_for: now,
        late: false,
        started_at: now,
        finished_at: None,
        duration_ms: None,
        http_status: None,
        response_body: None,
        error: None,
        response_body_truncated: false,
        response_content_type: None,
        sent_at: Some(now),
    }
}
