//! Operator operations (ADMIN only). Each checks the caller's current role in the database.

use async_graphql::{Context, ID, Object, Result};
use uuid::Uuid;

use super::{Role, user::User};
use crate::auth::{self, account};
use crate::error::ApiError;
use crate::state::AppState;

/// An `ID` argument as a UUID; anything else names no object, so NOT_FOUND.
pub(crate) fn parse_id(id: &ID, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::NotFound(format!("no {what} with id {}", id.as_str())))
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Makes a user an ADMIN or a USER. The last ADMIN cannot be demoted (CONFLICT).
    async fn update_user_role(&self, ctx: &Context<'_>, id: ID, role: Role) -> Result<User> {
        let state = ctx.data_unchecked::<AppState>();
        account::require_admin(state, auth::viewer(ctx)?).await?;
        let id = parse_id(&id, "user")?;
        let mut conn = state.conn().await?;
        match db::models::User::set_role(&mut conn, id, role.into()).await? {
            Ok(Some(user)) => {
                tracing::info!(user_id = %user.id, role = %user.role, "role changed");
                Ok(User(user))
            }
            Ok(None) => Err(ApiError::NotFound(format!("no user with id {id}")).into()),
            Err(db::models::user::LastAdmin) => Err(ApiError::Conflict(
                "this is the last administrator: promote someone else first".into(),
            )
            .into()),
        }
    }
}
