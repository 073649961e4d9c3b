//! Durations and Redis URLs as the settings read them.

use super::*;

#[test]
fn durations_read_like_the_original() {
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
    assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("0s").is_err());
}

#[test]
fn redis_url_from_parts_escapes_the_password() {
    let config = RedisConfig {
        redis_url: None,
        redis_host: "cache".into(),
        redis_port: 6380,
        redis_password: Some("p@ss word".into()),
        redis_key_prefix: "cronops".into(),
        redis_pool_size: 1,
    };
    assert_eq!(config.url(), "redis://:p%40ss%20word@cache:6380");
    let with_url = RedisConfig {
        redis_url: Some("redis://elsewhere:1".into()),
        ..config
    };
    assert_eq!(with_url.url(), "redis://elsewhere:1");
}
