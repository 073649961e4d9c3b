//! The contract's enums, stored as `text` columns with `CHECK` constraints.
//!
//! Text (not PostgreSQL enum types) keeps migrations simple: adding a value is a new
//! `CHECK`, never an `ALTER TYPE` that cannot run inside a transaction.

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// A string did not name a value of the enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownVariant {
    /// The enum's name.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored (and GraphQL) spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl ToSql<Text, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl FromSql<Text, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                let text = <String as FromSql<Text, Pg>>::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum! {
    /// What a user may do: ADMIN adds the operator operations.
    Role { User => "USER", Admin => "ADMIN" }
}

text_enum! {
    /// The subscription plan, which sets the limits in [`crate::plan::PlanLimits`].
    Plan { Free => "FREE", Premium => "PREMIUM", Pro => "PRO" }
}

text_enum! {
    /// Whether the scheduler fires the job. A COMPLETED job has no slot left (its
    /// `runAt` passed, its `endAt` or its `maxRuns` was reached).
    JobStatus { Active => "ACTIVE", Paused => "PAUSED", Completed => "COMPLETED" }
}

text_enum! {
    /// What a job calls. Only HTTP for now; the column leaves room for more.
    TargetType { Http => "HTTP" }
}

text_enum! {
    /// The HTTP method a job's request uses.
    HttpMethod {
        Get => "GET", Post => "POST", Put => "PUT", Patch => "PATCH", Delete => "DELETE", Head => "HEAD",
    }
}

text_enum! {
    /// Where one run stands. SUCCESS, FAILED, TIMEOUT and SKIPPED are final. PREPARED is
    /// the scheduler's own: a run written ahead of its slot whose request has not gone
    /// out, never shown by the API (see [`crate::models::ExecutionLog::is_shown`]).
    /// SKIPPED is a slot that was not fired, with the reason in its error.
    ExecutionStatus {
        Prepared => "PREPARED", Pending => "PENDING", Running => "RUNNING", Success => "SUCCESS",
        Failed => "FAILED", Timeout => "TIMEOUT", Skipped => "SKIPPED",
    }
}

text_enum! {
    /// Why a run happened.
    ExecutionTrigger { Schedule => "SCHEDULE", Manual => "MANUAL", Retry => "RETRY", Backfill => "BACKFILL" }
}

impl ExecutionStatus {
    /// Whether the run has ended (no more changes to its row).
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Timeout | Self::Skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_text() {
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str().parse::<ExecutionStatus>(), Ok(*status));
        }
        for method in HttpMethod::ALL {
            assert_eq!(method.to_string().parse::<HttpMethod>(), Ok(*method));
        }
        assert_eq!(
            "admin".parse::<Role>(),
            Err(UnknownVariant {
                kind: "Role",
                value: "admin".into()
            })
        );
    }
}
