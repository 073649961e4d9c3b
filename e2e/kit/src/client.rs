//! A GraphQL-over-HTTP client, as a dashboard or a script would use the API.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The API of one running process.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for the API at `base` (e.g. `http://127.0.0.1:3001`).
    pub fn new(base: String) -> Api {
        Api {
            base,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    /// `POST /graphql`; returns the whole response body (`data` and `errors`).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        response.json().await.expect("a JSON GraphQL response")
    }

    /// `GET <path>` with optional extra headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("GET")
    }

    /// `/health`'s status and body, or `None` while nothing answers.
    pub async fn health_status(&self) -> Option<(StatusCode, Value)> {
        let response = self
            .http
            .get(format!("{}/health", self.base))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status();
        Some((status, response.json().await.ok()?))
    }
}
