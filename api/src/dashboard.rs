//! The dashboard: the web app of `web/`, embedded in the binary when it is built (no file
//! is read at run time and nothing is fetched from a CDN), served at `/` and at each of
//! the app's own paths, so a link into the app (a reset mail, a notice's job) loads it.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use tower_http::compression::CompressionLayer;

#[derive(Embed)]
#[folder = "../web/dist/"]
struct Files;

/// Scripts, styles and connections to this origin only (WebSocket included); no inline
/// script or style, no frames, no forms posting elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The app's own paths (its router's), answered with the page; anything else is a 404.
fn is_app_path(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/",
        "/login",
        "/signup",
        "/verify",
        "/forgot-password",
        "/reset-password",
        "/verify-channel",
        "/jobs",
        "/settings",
        "/admin",
    ];
    EXACT.contains(&path)
        || ["/jobs/", "/admin/"].iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
        })
}

/// The dashboard's routes: the page and its content-named files.
pub fn router() -> Router {
    Router::new()
        .route("/assets/{file}", get(asset))
        .fallback(page)
        .layer(CompressionLayer::new())
}

async fn page(method: Method, uri: Uri) -> Response {
    if !is_app_path(uri.path()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let Some(index) = Files::get("index.html") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            // The page names the current files; it must be asked for again each time.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        index.data,
    )
        .into_response()
}

/// A script or stylesheet. Their names hold a hash of their content, so a browser may
/// keep them for good.
async fn asset(Path(name): Path<String>) -> Response {
    let Some(file) = Files::get(&format!("assets/{name}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let media_type = HeaderValue::from_str(file.metadata.mimetype())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, media_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        file.data,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_paths_get_the_page_and_nothing_else_does() {
        for path in [
            "/",
            "/login",
            "/jobs",
            "/jobs/new",
            "/jobs/6f1c/edit",
            "/admin/users",
        ] {
            assert!(is_app_path(path), "{path}");
        }
        for path in [
            "/favicon.ico",
            "/jobs/",
            "/robots.txt",
            "/graphqll",
            "/jobs/x.js",
            "/.env",
        ] {
            assert!(!is_app_path(path), "{path}");
        }
    }

    #[test]
    fn the_page_names_files_that_are_embedded() {
        let index = Files::get("index.html").expect("index.html");
        let html = String::from_utf8(index.data.into_owned()).unwrap();
        let named: Vec<&str> = html
            .split('"')
            .filter(|part| part.starts_with("/assets/"))
            .collect();
        assert_eq!(named.len(), 2, "{html}");
        for path in named {
            assert!(Files::get(&path[1..]).is_some(), "{path} is not embedded");
        }
    }
}
