//! Diesel table definitions, written to match `migrations/` (checked by the migration tests).

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        scopes -> Array<Text>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        role -> Text,
        plan -> Text,
        email_verified_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    email_verification_codes (user_id) {
        user_id -> Uuid,
        code_hash -> Text,
        expires_at -> Timestamptz,
        attempts -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_reset_tokens (id) {
        id -> Uuid,
        user_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        family_id -> Uuid,
        token_hash -> Text,
        expires_at -> Timestamptz,
        rotated_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        user_id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        cron_expression -> Nullable<Text>,
        timezone -> Text,
        target_type -> Text,
        target_url -> Text,
        http_method -> Text,
        headers -> Nullable<Jsonb>,
        body -> Nullable<Text>,
        timeout_ms -> Int4,
        max_retries -> Int4,
        status -> Text,
        next_run_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        success_criteria -> Nullable<Jsonb>,
        alert_policy -> Nullable<Jsonb>,
        consecutive_failures -> Int4,
        paused_reason -> Nullable<Text>,
        pause_note -> Nullable<Text>,
        retry_policy -> Nullable<Jsonb>,
        catch_up_policy -> Text,
        overlap_policy -> Text,
        run_at -> Nullable<Timestamptz>,
        start_at -> Nullable<Timestamptz>,
        end_at -> Nullable<Timestamptz>,
        max_runs -> Nullable<Int4>,
        scheduled_runs -> Int4,
        jitter_seconds -> Int4,
        tags -> Array<Text>,
    }
}

diesel::table! {
    execution_logs (id) {
        id -> Uuid,
        job_id -> Uuid,
        user_id -> Uuid,
        status -> Text,
        trigger -> Text,
        attempt -> Int4,
        scheduled_for -> Timestamptz,
        late -> Bool,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        duration_ms -> Nullable<Int4>,
        http_status -> Nullable<Int4>,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
        response_body_truncated -> Bool,
        response_content_type -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    secrets (user_id, name) {
        user_id -> Uuid,
        name -> Text,
        key_id -> Text,
        nonce -> Bytea,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(email_verification_codes -> users (user_id));
diesel::joinable!(password_reset_tokens -> users (user_id));
diesel::joinable!(refresh_sessions -> users (user_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(secrets -> users (user_id));
diesel::joinable!(jobs -> users (user_id));
diesel::table! {
    notification_channels (id) {
        id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        name -> Text,
        target -> Text,
        account_email -> Bool,
        verified_at -> Nullable<Timestamptz>,
        verify_token_hash -> Nullable<Text>,
        verify_expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        last_delivery_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    signing_secrets (user_id) {
        user_id -> Uuid,
        current -> Text,
        next -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    notifications (id) {
        id -> Uuid,
        user_id -> Uuid,
        event_id -> Uuid,
        job_id -> Nullable<Uuid>,
        channel_id -> Nullable<Uuid>,
        run_id -> Nullable<Uuid>,
        kind -> Text,
        status -> Text,
        content -> Jsonb,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        digest_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(execution_logs -> jobs (job_id));
diesel::joinable!(signing_secrets -> users (user_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(notification_channels -> users (user_id));
diesel::joinable!(execution_logs -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    secrets,
    notification_channels,
    notifications,
    signing_secrets,
    users,
    email_verification_codes,
    password_reset_tokens,
    refresh_sessions,
    jobs,
    execution_logs,
);
