//! `GET /metrics`: what the server is doing, in the Prometheus text format.
//!
//! Each router keeps its own [`PrometheusRecorder`] (never the process-wide
//! one, so two servers or tests in one process count apart) and records
//! into it with `metrics::with_local_recorder`. Requests, decisions and
//! plugin calls (told by the plugin host as a [`CallObserver`]) are
//! recorded as they happen; what other parts already count (the entity
//! cache, the batch lane, the decision log, the database's size) and the
//! digests in force are read when scraped. Every label takes a bounded set
//! of values: routes are the registry's path templates, actions those the
//! schema declares, plugins those of the plugin directory.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use tower_layer::Layer;
use tower_service::Service;

use super::decision_log::DecisionLog;
use super::endpoint::{endpoint, Body, Endpoint, Takes};
use super::ApiState;
use crate::app::App;
use crate::error::Result;
use crate::ledger;
use crate::plugin::{CallObserver, FailureKind, Hook};
use crate::policy::PolicySnapshot;

/// The names of the series, one place for the code and the README.
pub mod names {
    /// Counter: answered requests by `route` (template), `method`, `status`.
    pub const HTTP_REQUESTS: &str = "warden_http_requests_total";
    /// Histogram: seconds from a request's arrival at the router to its answer.
    pub const HTTP_REQUEST_DURATION: &str = "warden_http_request_duration_seconds";
    /// Counter: check decisions by `action` and `decision` (`allow`, `deny`).
    pub const DECISIONS: &str = "warden_decisions_total";
    /// Histogram: seconds one check took to decide.
    pub const CHECK_DURATION: &str = "warden_check_duration_seconds";
    /// Counter: checks whose entities all came from the entity cache.
    pub const ENTITY_CACHE_HITS: &str = "warden_entity_cache_hits_total";
    /// Counter: checks that read some of their entities from the store.
    pub const ENTITY_CACHE_BUILDS: &str = "warden_entity_cache_builds_total";
    /// Counter: calls of a `hook` given to a `plugin`.
    pub const PLUGIN_CALLS: &str = "warden_plugin_calls_total";
    /// Counter: those of a `plugin`'s calls of a `hook` that failed, by `kind`.
    pub const PLUGIN_FAILURES: &str = "warden_plugin_failures_total";
    /// Histogram: seconds a `plugin`'s call of a `hook` took.
    pub const PLUGIN_CALL_DURATION: &str = "warden_plugin_call_duration_seconds";
    /// Gauge: commands waiting for the batch lane (usage posts).
    pub const BATCH_WAITING: &str = "warden_batch_waiting_commands";
    /// Gauge: bytes the database takes.
    pub const DATABASE_BYTES: &str = "warden_database_bytes";
    /// Counter: decisions queued for the decision log.
    pub const DECISION_LOG_LINES: &str = "warden_decision_log_lines_total";
    /// Counter: decisions the decision log dropped (its queue was full).
    pub const DECISION_LOG_DROPPED: &str = "warden_decision_log_dropped_total";
    /// Counter: transactions the ledger holds (every server's, on a shared
    /// database).
    pub const LEDGER_TRANSACTIONS: &str = "warden_ledger_transactions_total";
    /// Info (always 1): the `digest` of the policy set in force.
    pub const POLICY_INFO: &str = "warden_policy_info";
    /// Info (always 1): the `digest` of the plugins serving the hooks.
    pub const PLUGINS_INFO: &str = "warden_plugins_info";
}

/// `route` of a request no route matched: one value for every unknown path.
const UNMATCHED_ROUTE: &str = "unmatched";
/// `action` of a decided check whose action the schema does not declare,
/// so a caller cannot add series by inventing actions.
const OTHER_ACTION: &str = "other";

/// Upper bounds (seconds) of the latency buckets: 100 µs to 10 s, as a
/// check takes microseconds and a write with its fsync milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The media type of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![endpoint!(
        Get "/metrics" => scrape,
        "Prometheus text exposition: requests, decisions, check latency, entity cache, plugin calls and their time, batch lane, database size, ledger transactions, decision log, digests (admin token)",
        Takes::Nothing,
        200,
        Body::Text,
        &[],
    )]
}

/// One router's series.
pub struct Metrics {
    recorder: PrometheusRecorder,
    /// The digests last shown as info series, so a replaced one drops to 0.
    shown_digests: Mutex<[Option<String>; 2]>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let metrics = Metrics {
            recorder,
            shown_digests: Mutex::default(),
        };
        metrics.record(describe);
        metrics
    }
}

impl Metrics {
    /// Runs `f` with this router's recorder as the one `metrics` macros use.
    fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Counts one answered request.
    fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        let labels = [
            ("route", route.to_string()),
            ("method", method.to_string()),
            ("status", status.to_string()),
        ];
        self.record(|| {
            counter!(names::HTTP_REQUESTS, &labels).increment(1);
            histogram!(names::HTTP_REQUEST_DURATION, &labels[..2]).record(took);
        });
    }

    /// Counts one decision of `snapshot` on `action`.
    pub(super) fn decision(
        &self,
        snapshot: &PolicySnapshot,
        action: &str,
        allowed: bool,
        took: Duration,
    ) {
        let action = if snapshot.declares_action(action) {
            action.to_string()
        } else {
            OTHER_ACTION.to_string()
        };
        let decision = if allowed { "allow" } else { "deny" };
        self.record(|| {
            counter!(names::DECISIONS, "action" => action, "decision" => decision).increment(1);
            histogram!(names::CHECK_DURATION).record(took);
        });
    }

    /// The text exposition, with what `app` and the decision log count
    /// themselves read now (two store reads: the ledger's counter and the
    /// database's size).
    pub fn render(&self, app: &App, decision_log: Option<&DecisionLog>) -> Result<String> {
        let posted = ledger::transactions_posted(&app.store)?;
        let database_bytes = app.store.size_bytes()?;
        self.record(|| {
            counter!(names::LEDGER_TRANSACTIONS).absolute(posted);
            gauge!(names::DATABASE_BYTES).set(database_bytes as f64);
            gauge!(names::BATCH_WAITING).set(app.batches.waiting() as f64);
            let cache = app.check_cache_stats();
            counter!(names::ENTITY_CACHE_HITS).absolute(cache.hits);
            counter!(names::ENTITY_CACHE_BUILDS).absolute(cache.builds);
            if let Some(log) = decision_log {
                let (queued, dropped) = log.counts();
                counter!(names::DECISION_LOG_LINES).absolute(queued);
                counter!(names::DECISION_LOG_DROPPED).absolute(dropped);
            }
            let digests = [
                app.policies.current().digest.clone(),
                app.plugins.status().digest,
            ];
            self.show_digests(digests);
        });
        Ok(self.recorder.handle().render())
    }

    /// Sets the info series of the digests in force to 1, and those of the
    /// ones they replaced to 0 (a recorder cannot forget a series).
    fn show_digests(&self, digests: [String; 2]) {
        let mut shown = self
            .shown_digests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let info = [names::POLICY_INFO, names::PLUGINS_INFO];
        for ((name, digest), shown) in info.into_iter().zip(digests).zip(shown.iter_mut()) {
            if let Some(old) = shown.take().filter(|old| *old != digest) {
                gauge!(name, "digest" => old).set(0.0);
            }
            gauge!(name, "digest" => digest.clone()).set(1.0);
            *shown = Some(digest);
        }
    }
}

/// Plugin calls are counted and timed as they end.
impl CallObserver for Metrics {
    fn call_ended(&self, plugin: &str, hook: Hook, took: Duration, failure: Option<FailureKind>) {
        let labels = [
            ("plugin", plugin.to_string()),
            ("hook", hook.name().to_string()),
        ];
        self.record(|| {
            counter!(names::PLUGIN_CALLS, &labels).increment(1);
            histogram!(names::PLUGIN_CALL_DURATION, &labels).record(took);
            if let Some(kind) = failure {
                let [plugin, hook] = labels;
                let labels = [plugin, hook, ("kind", kind.as_str().to_string())];
                counter!(names::PLUGIN_FAILURES, &labels).increment(1);
            }
        });
    }
}

/// The `# HELP` and `# TYPE` lines of the series recorded as they happen.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::HTTP_REQUESTS,
        "Answered requests by route template, method and status."
    );
    describe_histogram!(
        names::HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Request latency by route template and method."
    );
    describe_counter!(names::DECISIONS, "Check decisions by action and decision.");
    describe_histogram!(
        names::CHECK_DURATION,
        Unit::Seconds,
        "Time one check took to decide."
    );
    describe_counter!(
        names::ENTITY_CACHE_HITS,
        "Checks whose entities all came from the entity cache."
    );
    describe_counter!(
        names::ENTITY_CACHE_BUILDS,
        "Checks that read some of their entities from the store."
    );
    describe_counter!(names::PLUGIN_CALLS, "Hook calls given to each plugin.");
    describe_counter!(names::LEDGER_TRANSACTIONS, "Transactions the ledger holds.");
    describe_counter!(
        names::PLUGIN_FAILURES,
        "Hook calls of each plugin that failed, by kind of failure."
    );
    describe_histogram!(
        names::PLUGIN_CALL_DURATION,
        Unit::Seconds,
        "Time a plugin's hook call took, from instantiation to checked answer."
    );
    describe_gauge!(
        names::BATCH_WAITING,
        "Commands waiting for the batch lane (usage posts)."
    );
    describe_gauge!(
        names::DATABASE_BYTES,
        Unit::Bytes,
        "Bytes the database takes (on disk; on PostgreSQL, Warden's tables)."
    );
    describe_counter!(
        names::DECISION_LOG_LINES,
        "Decisions queued for the decision log."
    );
    describe_counter!(
        names::DECISION_LOG_DROPPED,
        "Decisions the decision log dropped because its queue was full."
    );
    describe_gauge!(
        names::POLICY_INFO,
        "The digest of the policy set in force (1; a replaced one 0)."
    );
    describe_gauge!(
        names::PLUGINS_INFO,
        "The digest of the plugins serving the hooks (1; a replaced one 0)."
    );
}

/// The layer (`Router::layer`, so each request meets it after routing)
/// that counts each request under its route's template, never its raw
/// path. A layer of its own rather than `middleware::from_fn`, whose boxed
/// future and route clone would cost every check (see `RequireToken`).
#[derive(Clone)]
pub(super) struct Track(pub Arc<Metrics>);

impl<S> Layer<S> for Track {
    type Service = Tracked<S>;

    fn layer(&self, inner: S) -> Tracked<S> {
        Tracked {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

/// A service whose answers [`Track`] counts.
#[derive(Clone)]
pub(super) struct Tracked<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Tracked<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answering<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        Answering {
            method: method_label(request.method()),
            inner: self.inner.call(request),
            metrics: Arc::clone(&self.metrics),
            route,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request being answered; counted when its answer is ready.
    pub(super) struct Answering<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        route: Option<MatchedPath>,
        method: &'static str,
        started: Instant,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answering<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &answer {
            let route = this
                .route
                .as_ref()
                .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
            let status = response.status().as_u16();
            this.metrics
                .request(route, this.method, status, this.started.elapsed());
        }
        Poll::Ready(answer)
    }
}

/// The `method` label: a standard method, or `other` for any extension
/// method a client makes up.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

/// `GET /metrics`.
async fn scrape(State(state): State<ApiState>) -> Result<Response> {
    let decision_log = state.settings.decision_log.as_deref();
    let text = state.metrics.render(&state.app, decision_log)?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_labelled_by_template_and_a_known_method() {
        let metrics = Metrics::default();
        let custom = Method::from_bytes(b"BREW").unwrap();
        for method in [Method::GET, custom] {
            let method = method_label(&method);
            metrics.request("/v1/orgs/{id}", method, 200, Duration::from_millis(2));
        }
        let text = metrics.recorder.handle().render();
        let series = |method: &str| {
            format!(
                "{}{{route=\"/v1/orgs/{{id}}\",method=\"{method}\",status=\"200\"}} 1",
                names::HTTP_REQUESTS
            )
        };
        for method in ["GET", "other"] {
            assert!(text.lines().any(|l| l == series(method)), "{text}");
        }
        // A histogram with buckets, not a summary.
        let bucket = format!("{}_bucket{{", names::HTTP_REQUEST_DURATION);
        assert!(text.contains(&bucket), "{text}");
    }
}
