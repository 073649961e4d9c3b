//! A tracing span for each SQL statement, when tracing is exported (see
//! [`trace_queries`]): `db.query`, child of whatever span runs the statement, with the
//! statement's text (never its bound values, which may be secrets or tokens).

use diesel::connection::{Instrumentation, InstrumentationEvent};

/// The name of the span of one statement.
pub const QUERY_SPAN: &str = "db.query";

/// Makes every connection opened from now on record a span per statement.
pub fn trace_queries() {
    let installed =
        diesel::connection::set_default_instrumentation(|| Some(Box::new(QuerySpans::default())));
    if let Err(e) = installed {
        tracing::warn!(error = %e, "SQL statements will not be traced");
    }
}

/// The spans of the statements a connection is running, oldest first.
#[derive(Default)]
struct QuerySpans(Vec<tracing::Span>);

impl Instrumentation for QuerySpans {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let text = query.to_string();
                let statement = text.split(" -- binds:").next().unwrap_or_default().trim();
                let operation = statement.split_whitespace().next().unwrap_or("SQL");
                self.0.push(tracing::info_span!(
                    "db.query",
                    otel.name = format!("{} postgresql", operation.to_ascii_uppercase()),
                    otel.kind = "client",
                    db.system = "postgresql",
                    db.statement = statement,
                    otel.status_code = tracing::field::Empty,
                ));
            }
            InstrumentationEvent::FinishQuery { error, .. } if !self.0.is_empty() => {
                let span = self.0.remove(0);
                // A refused statement can be expected (a duplicate slot is how instances
                // share work): marked, not logged.
                if error.is_some() {
                    span.record("otel.status_code", "ERROR");
                }
            }
            _ => {}
        }
    }
}
