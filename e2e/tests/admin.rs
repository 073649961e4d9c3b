//! Admin operations check the caller's role as it is now in the database.

use e2e::TestEnv;
use e2e::accounts::error_code;
use serde_json::json;

const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { updateUserRole(id: $id, role: $role) { id role } }";

#[tokio::test]
async fn roles_are_read_from_the_database_on_every_admin_call() {
    let env = TestEnv::new().await;
    env.seed().await;
    let server = env.start_api().await;
    let api = server.api();
    let admin = api.login_ok("admin@cronops.dev", "Admin123!").await;
    let user = api
        .signup_verified(&env.mail, "ops@example.com", "Password123!")
        .await;

    let anonymous = api
        .graphql(SET_ROLE, json!({"id": user.user_id, "role": "ADMIN"}), None)
        .await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
    let by_user = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "ADMIN"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(error_code(&by_user), Some("FORBIDDEN"), "{by_user}");
    let unknown = api
        .graphql(
            SET_ROLE,
            json!({"id": uuid::Uuid::new_v4(), "role": "ADMIN"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"));

    let promoted = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "ADMIN"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(
        promoted["data"]["updateUserRole"]["role"], "ADMIN",
        "{promoted}"
    );

    // The promoted user's token still says USER, yet the database says ADMIN: allowed.
    let demote_admin = api
        .graphql(
            SET_ROLE,
            json!({"id": admin.user_id, "role": "USER"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(
        demote_admin["data"]["updateUserRole"]["role"], "USER",
        "{demote_admin}"
    );

    // The demoted admin's token still says ADMIN, yet access is gone at once.
    let stale = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "USER"}),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(error_code(&stale), Some("FORBIDDEN"), "{stale}");

    // The last admin cannot demote themselves.
    let last = api
        .graphql(
            SET_ROLE,
            json!({"id": user.user_id, "role": "USER"}),
            Some(&user.access_token),
        )
        .await;
    assert_eq!(error_code(&last), Some("CONFLICT"), "{last}");
}
