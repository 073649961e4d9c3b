//! The contract's enums, mirrored from `db`'s stored ones.

use async_graphql::Enum;

/// What a user may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::Role")]
pub enum Role {
    User,
    Admin,
}

/// A subscription plan; see `plans` for what each allows.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "db::Plan")]
pub enum Plan {
    Free,
    Premium,
    Pro,
}
