//! The GraphQL over HTTP specification (graphql.github.io/graphql-over-http), read to
//! the letter: which media type an answer takes, how a request's parameters are read
//! from a JSON body or a URL, and which status each outcome gets.
//!
//! - The answer's media type follows `Accept`: `application/graphql-response+json` when
//!   the client names it (and prefers it), else `application/json` (also for `*/*` and a
//!   missing header); nothing acceptable is 406.
//! - A POST must be `application/json` (UTF-8): anything else, or no type, is 415.
//! - A body or URL that does not hold the parameters (`query` a string, `operationName` a
//!   string, `variables` and `extensions` maps; each may be null) is 400.
//! - A *request error* (the document does not parse or validate, a variable does not
//!   coerce, the operation is not found) is answered without `data`: with 200 under
//!   `application/json`, with 400 under `application/graphql-response+json`.
//!
//! Errors of this layer are GraphQL-shaped with `extensions.code` `BAD_REQUEST`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value as Json};

/// `extensions.code` of a request the transport cannot read.
pub const BAD_REQUEST: &str = "BAD_REQUEST";

/// The media type of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: the legacy type every client accepts; always 200.
    Json,
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponse,
}

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::Json => "application/json; charset=utf-8",
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        })
    }

    /// Chooses from `Accept`: the supported type with the highest weight, the specific
    /// `application/graphql-response+json` on a tie. `None` when none is acceptable.
    pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let mut ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter(|range| !range.trim().is_empty())
            .peekable();
        if ranges.peek().is_none() {
            return Some(MediaType::Json);
        }
        let mut best: Option<(f32, MediaType)> = None;
        for range in ranges {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut weight = 1.0_f32;
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    weight = value.trim().parse().unwrap_or(0.0);
                }
            }
            let media = match essence.as_str() {
                "application/graphql-response+json" => MediaType::GraphqlResponse,
                "application/json" | "application/*" | "*/*" => MediaType::Json,
                _ => continue,
            };
            let better = match best {
                None => true,
                Some((w, m)) => {
                    weight > w || (weight == w && media == MediaType::GraphqlResponse && m != media)
                }
            };
            if weight > 0.0 && better {
                best = Some((weight, media));
            }
        }
        best.map(|(_, media)| media)
    }
}

/// The parameters of a GraphQL request, as the client sent them.
#[derive(Debug, Default)]
pub struct Params {
    pub query: Option<String>,
    pub operation_name: Option<String>,
    pub variables: Option<Map<String, Json>>,
    pub extensions: Option<Map<String, Json>>,
}

impl Params {
    /// From a POST's JSON body.
    pub fn from_body(body: &[u8]) -> Result<Params, Rejection> {
        let value: Json = serde_json::from_slice(body)
            .map_err(|e| Rejection::bad_request(format!("the body is not JSON: {e}")))?;
        let Json::Object(mut object) = value else {
            return Err(Rejection::bad_request(
                "the body must be a JSON object (batched requests are not supported)",
            ));
        };
        Ok(Params {
            query: string(object.remove("query"), "query")?,
            operation_name: string(object.remove("operationName"), "operationName")?,
            variables: map(object.remove("variables"), "variables")?,
            extensions: map(object.remove("extensions"), "extensions")?,
        })
    }

    /// From a GET's URL query (`variables` and `extensions` hold JSON text).
    pub fn from_url(query: &str) -> Result<Params, Rejection> {
        let mut params = Params::default();
        let mut seen = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if seen.contains(&name) {
                return Err(Rejection::bad_request(format!("`{name}` is given twice")));
            }
            let json = |what: &str| -> Result<Option<Map<String, Json>>, Rejection> {
                let parsed = serde_json::from_str(&value)
                    .map_err(|e| Rejection::bad_request(format!("`{what}` is not JSON: {e}")))?;
                map(Some(parsed), what)
            };
            match name.as_ref() {
                "query" => params.query = Some(value.to_string()),
                "operationName" => params.operation_name = Some(value.to_string()),
                "variables" => params.variables = json("variables")?,
                "extensions" => params.extensions = json("extensions")?,
                _ => {}
            }
            seen.push(name);
        }
        Ok(params)
    }
}

fn string(value: Option<Json>, name: &str) -> Result<Option<String>, Rejection> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::bad_request(format!("`{name}` must be a string"))),
    }
}

fn map(value: Option<Json>, name: &str) -> Result<Option<Map<String, Json>>, Rejection> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Rejection::bad_request(format!("`{name}` must be a map"))),
    }
}

/// A request refused before GraphQL sees it.
#[derive(Debug)]
pub struct Rejection {
    pub status: StatusCode,
    pub message: String,
    pub code: &'static str,
    pub allow: Option<&'static str>,
}

impl Rejection {
    pub fn bad_request(message: impl Into<String>) -> Rejection {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            code: BAD_REQUEST,
            allow: None,
        }
    }

    pub fn unsupported_media_type() -> Rejection {
        Rejection {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "send the request as application/json (UTF-8)".to_owned(),
            ..Rejection::bad_request("")
        }
    }

    pub fn not_acceptable() -> Rejection {
        Rejection {
            status: StatusCode::NOT_ACCEPTABLE,
            message: "accept application/graphql-response+json or application/json".to_owned(),
            ..Rejection::bad_request("")
        }
    }

    pub fn mutation_over_get() -> Rejection {
        Rejection {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: "mutations must be sent with POST".to_owned(),
            allow: Some("POST"),
            ..Rejection::bad_request("")
        }
    }

    /// The answer, in `media` (JSON when none was acceptable).
    pub fn respond(self, media: Option<MediaType>) -> Response {
        let body = serde_json::json!({
            "errors": [{"message": self.message, "extensions": {"code": self.code}}]
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            media.unwrap_or(MediaType::Json).content_type(),
        );
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// Whether a POST's `Content-Type` is JSON in UTF-8.
pub fn is_json_body(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|parameter| match parameter.split_once('=') {
            Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8"),
            _ => true,
        })
}

/// The answer to an executed request. `executed` is false for a request error, which is
/// answered without `data`.
pub fn respond(media: MediaType, response: async_graphql::Response, executed: bool) -> Response {
    let status = if !executed && media == MediaType::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if executed {
        serde_json::to_vec(&response)
    } else {
        #[derive(serde::Serialize)]
        struct RequestError<'a> {
            errors: &'a [async_graphql::ServerError],
        }
        serde_json::to_vec(&RequestError {
            errors: &response.errors,
        })
    }
    .unwrap_or_else(|_| br#"{"errors":[{"message":"internal server error"}]}"#.to_vec());
    let mut answer = (status, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    if let Some(cache_control) = response
        .cache_control
        .value()
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CACHE_CONTROL, cache_control);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(accept: &[&str]) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        MediaType::negotiate(&headers)
    }

    #[test]
    fn accept_chooses_the_answers_media_type() {
        use MediaType::*;
        assert_eq!(negotiate(&[]), Some(Json));
        assert_eq!(negotiate(&["*/*"]), Some(Json));
        assert_eq!(negotiate(&["application/json"]), Some(Json));
        assert_eq!(
            negotiate(&["application/graphql-response+json"]),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(&["application/json, application/graphql-response+json"]),
            Some(GraphqlResponse)
        );
        assert_eq!(
            negotiate(&["application/graphql-response+json;q=0.5, application/json"]),
            Some(Json)
        );
        assert_eq!(
            negotiate(&["text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"]),
            Some(Json)
        );
        assert_eq!(negotiate(&["text/html"]), None);
        assert_eq!(negotiate(&["application/json;q=0"]), None);
    }

    #[test]
    fn only_json_in_utf8_is_read() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            is_json_body(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=UTF-8"));
        assert!(!with("application/json; charset=latin1"));
        assert!(!with("text/plain;charset=UTF-8"));
        assert!(!with("application/graphql"));
        assert!(!is_json_body(&HeaderMap::new()));
    }

    #[test]
    fn parameters_of_the_wrong_shape_are_refused() {
        let body = |text: &str| Params::from_body(text.as_bytes());
        assert!(body(r#"{"query": "{ a }", "variables": null}"#).is_ok());
        for bad in [
            "{",
            "[]",
            r#"{"query": 1}"#,
            r#"{"query": "{ a }", "operationName": false}"#,
            r#"{"query": "{ a }", "variables": "x"}"#,
            r#"{"query": "{ a }", "extensions": []}"#,
        ] {
            let rejection = body(bad).unwrap_err();
            assert_eq!(rejection.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let url = Params::from_url("query=%7Ba%7D&variables=%7B%22x%22%3A1%7D").unwrap();
        assert_eq!(url.query.as_deref(), Some("{a}"));
        assert_eq!(url.variables.unwrap()["x"], 1);
        assert!(Params::from_url("query=a&query=b").is_err());
        assert!(Params::from_url("query=a&variables=%5B%5D").is_err());
    }
}
