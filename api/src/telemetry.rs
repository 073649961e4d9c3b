//! Logging and tracing: one `init`, text or JSON lines, level from `RUST_LOG` (default
//! `info`); and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span exported over
//! OTLP (HTTP, protobuf) with W3C trace context, read from requests and written into
//! each job's request.
//!
//! The exporter reads the standard variables itself (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `…_TRACES_ENDPOINT`, `…_HEADERS`, `…_TIMEOUT`), as does the batch processor
//! (`OTEL_BSP_*`) and the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).

use bytes::Bytes;
use opentelemetry::trace::{
    SamplingDecision, SamplingResult, SpanKind, TraceId, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, ShouldSample};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Keeps the exporter of a process; [`Telemetry::shutdown`] sends what is buffered.
#[must_use = "shut it down at exit, or the last spans are lost"]
pub struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    /// Sends the spans still buffered. Call outside the async runtime.
    pub fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: OpenTelemetry spans not all sent: {e}");
        }
    }
}

/// Installs the global subscriber, with the OTLP exporter when `otlp` is on. Call once,
/// before the async runtime starts (the exporter sends from a thread of its own).
pub fn init(format: LogFormat, otlp: bool, service: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,fred=warn,fred::trace=info"));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let (tracer, provider) = match otlp.then(|| exporter(service)).transpose() {
        Ok(Some((tracer, provider))) => (Some(tracer), Some(provider)),
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("warning: OTEL_EXPORTER_OTLP_ENDPOINT set, but no exporter: {e}");
            (None, None)
        }
    };
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        db::trace_queries();
        scheduler::traces::export();
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(tracer.map(|tracer| tracing_opentelemetry::layer().with_tracer(tracer)))
        .try_init();
    Telemetry(provider)
}

fn exporter(service: &str) -> anyhow::Result<(SdkTracer, SdkTracerProvider)> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_http_client(Blocking(reqwest::blocking::Client::new()))
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let resource = resource
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(InsideWork)
        .with_resource(resource)
        .build();
    Ok((provider.tracer("cronops"), provider))
}

/// Samples every trace, except database and Redis spans that belong to no request or
/// run: the scheduler's own loops would fill the backend with one-span traces.
#[derive(Debug, Clone)]
struct InsideWork;

impl ShouldSample for InsideWork {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        _trace_id: TraceId,
        name: &str,
        _kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[opentelemetry::trace::Link],
    ) -> SamplingResult {
        use opentelemetry::trace::TraceContextExt;
        let parent = parent
            .map(|cx| cx.span().span_context().clone())
            .filter(|span| span.is_valid());
        let sampled = match &parent {
            Some(parent) => parent.is_sampled(),
            None => !(name.starts_with("fred.") || name == db::QUERY_SPAN),
        };
        SamplingResult {
            decision: if sampled {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: Vec::new(),
            trace_state: parent.map(|p| p.trace_state().clone()).unwrap_or_default(),
        }
    }
}

/// The exporter's HTTP client: this workspace's reqwest, blocking, as the batch
/// processor sends from its own thread.
#[derive(Debug)]
struct Blocking(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for Blocking {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let answer = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let mut response = Response::builder().status(answer.status().as_u16());
        for (name, value) in answer.headers() {
            response = response.header(name, value);
        }
        Ok(response.body(answer.bytes()?)?)
    }
}

/// Makes `span` continue the trace a request's `traceparent` names, if any.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    use opentelemetry::trace::TraceContextExt;
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}
