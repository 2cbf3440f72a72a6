//! What `/metrics` reports (Prometheus text format 0.0.4) and the portal's dashboard draws:
//! requests and their latency per route, tokens issued per grant, failed logins, plus the gauges
//! that other parts register (the store's connection pool and caches). Counters are atomics; a
//! request costs two clock reads and a read lock.
//!
//! [`Track`] is also where every request gets its id (`X-Request-Id`, taken from a proxy when it
//! sent a sane one) and the log span that carries it, so that every log line of a request names it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ostiary_core::GrantType;
use tracing::Instrument as _;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Minutes of history the dashboard can draw.
pub const HISTORY_MINUTES: usize = 60;
/// The route label of requests that matched no route: one label, whatever the path.
const UNMATCHED: &str = "unmatched";

/// Who failed to log in: an end user at the authorization server, or an administrator at the portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginRealm {
    User,
    Portal,
}

/// A value an authorization request must make afresh each time (RFC 9700 §2.1.1), when it comes
/// again: a client that reuses them, or a replayed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reused {
    CodeChallenge,
    Nonce,
}

impl Reused {
    pub const ALL: [Reused; 2] = [Reused::CodeChallenge, Reused::Nonce];

    pub fn label(self) -> &'static str {
        match self {
            Reused::CodeChallenge => "code_challenge",
            Reused::Nonce => "nonce",
        }
    }
}

impl LoginRealm {
    fn label(self) -> &'static str {
        match self {
            LoginRealm::User => "user",
            LoginRealm::Portal => "portal",
        }
    }
}

/// A gauge source: writes its own metric families at scrape time.
type Source = Box<dyn Fn(&mut String) + Send + Sync>;

pub struct Metrics {
    started: Instant,
    started_unix: f64,
    request_id_prefix: u32,
    next_request: AtomicU64,
    routes: RwLock<HashMap<String, Arc<RouteStats>>>,
    issued: [AtomicU64; GrantType::ALL.len()],
    failed_logins: [AtomicU64; 2],
    reused: [AtomicU64; Reused::ALL.len()],
    history: Mutex<VecDeque<Minute>>,
    sources: RwLock<Vec<Source>>,
}

/// One minute of the dashboard's history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Minute {
    /// Unix time of the minute's start.
    pub start: i64,
    pub failed_logins: u64,
    pub tokens_issued: u64,
}

#[derive(Default)]
struct RouteStats {
    /// Responses by status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Requests whose latency fell in each bucket (the last: beyond every bound).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    total_micros: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut prefix = [0u8; 4];
        // A random prefix keeps request ids of several nodes apart; a counter keeps them cheap.
        let _ = SystemRandom::new().fill(&mut prefix);
        Metrics {
            started: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            request_id_prefix: u32::from_be_bytes(prefix),
            next_request: AtomicU64::new(0),
            routes: Default::default(),
            issued: Default::default(),
            failed_logins: Default::default(),
            reused: Default::default(),
            history: Default::default(),
            sources: Default::default(),
        }
    }
}

impl Metrics {
    /// Adds metric families written at every scrape (gauges read from elsewhere).
    pub fn add_source(&self, source: impl Fn(&mut String) + Send + Sync + 'static) {
        self.sources
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(source));
    }

    pub fn token_issued(&self, grant: GrantType) {
        let index = GrantType::ALL.iter().position(|g| *g == grant);
        if let Some(counter) = index.and_then(|i| self.issued.get(i)) {
            counter.fetch_add(1, Relaxed);
        }
        self.in_this_minute(|m| m.tokens_issued += 1);
    }

    pub fn login_failed(&self, realm: LoginRealm) {
        self.failed_logins[realm as usize].fetch_add(1, Relaxed);
        self.in_this_minute(|m| m.failed_logins += 1);
    }

    pub fn reused(&self, value: Reused) {
        self.reused[value as usize].fetch_add(1, Relaxed);
    }

    pub fn failed_logins(&self, realm: LoginRealm) -> u64 {
        self.failed_logins[realm as usize].load(Relaxed)
    }

    /// The last [`HISTORY_MINUTES`] minutes up to `now`, oldest first, with the quiet ones as zeros.
    pub fn history(&self, now: i64) -> Vec<Minute> {
        let this_minute = now - now.rem_euclid(60);
        let kept = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (0..HISTORY_MINUTES as i64)
            .rev()
            .map(|ago| {
                let start = this_minute - ago * 60;
                kept.iter()
                    .find(|m| m.start == start)
                    .copied()
                    .unwrap_or(Minute {
                        start,
                        ..Default::default()
                    })
            })
            .collect()
    }

    fn in_this_minute(&self, change: impl FnOnce(&mut Minute)) {
        let now = crate::endpoints::now();
        let start = now - now.rem_euclid(60);
        let mut kept = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if kept.back().is_none_or(|m| m.start != start) {
            if kept.len() == HISTORY_MINUTES {
                kept.pop_front();
            }
            kept.push_back(Minute {
                start,
                ..Default::default()
            });
        }
        if let Some(minute) = kept.back_mut() {
            change(minute);
        }
    }

    fn route(&self, route: &str) -> Arc<RouteStats> {
        if let Some(stats) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return stats.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.to_owned())
            .or_default()
            .clone()
    }

    fn observe(&self, route: &str, status: StatusCode, elapsed: Duration) {
        let stats = self.route(route);
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        stats.by_class[class].fetch_add(1, Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        stats.buckets[bucket].fetch_add(1, Relaxed);
        stats
            .total_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    fn request_id(&self, from_proxy: Option<&HeaderValue>) -> HeaderValue {
        let sane = |v: &&HeaderValue| {
            let bytes = v.as_bytes();
            (1..=64).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        };
        if let Some(id) = from_proxy.filter(sane) {
            return id.clone();
        }
        let n = self.next_request.fetch_add(1, Relaxed);
        let id = format!("{:08x}{n:08x}", self.request_id_prefix);
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("-"))
    }

    /// The Prometheus text exposition of everything above.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        family(
            &mut out,
            "ostiary_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status class.",
        );
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = routes.keys().collect();
        names.sort();
        for name in &names {
            let stats = &routes[*name];
            for (class, count) in stats.by_class.iter().enumerate() {
                let count = count.load(Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "ostiary_http_requests_total{{route=\"{}\",status=\"{}xx\"}} {count}",
                        escape(name),
                        class + 1
                    );
                }
            }
        }
        family(
            &mut out,
            "ostiary_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response, by route.",
        );
        for name in &names {
            let stats = &routes[*name];
            let route = escape(name);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += stats.buckets[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "ostiary_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += stats.buckets[BUCKETS.len()].load(Relaxed);
            let sum = stats.total_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "ostiary_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}\n\
                 ostiary_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}\n\
                 ostiary_http_request_duration_seconds_count{{route=\"{route}\"}} {cumulative}"
            );
        }
        drop(routes);
        family(
            &mut out,
            "ostiary_tokens_issued_total",
            "counter",
            "Token responses issued (an access token each), by grant type.",
        );
        for (grant, count) in GrantType::ALL.iter().zip(&self.issued) {
            let _ = writeln!(
                out,
                "ostiary_tokens_issued_total{{grant_type=\"{grant}\"}} {}",
                count.load(Relaxed)
            );
        }
        family(
            &mut out,
            "ostiary_login_failures_total",
            "counter",
            "Failed logins: wrong password, unknown or disabled user, or refused by the rate limit.",
        );
        for realm in [LoginRealm::User, LoginRealm::Portal] {
            let _ = writeln!(
                out,
                "ostiary_login_failures_total{{realm=\"{}\"}} {}",
                realm.label(),
                self.failed_logins(realm)
            );
        }
        family(
            &mut out,
            "ostiary_reused_request_values_total",
            "counter",
            "Authorization requests whose PKCE challenge or nonce came before (a client that reuses them, or a replay).",
        );
        for value in Reused::ALL {
            let _ = writeln!(
                out,
                "ostiary_reused_request_values_total{{value=\"{}\"}} {}",
                value.label(),
                self.reused[value as usize].load(Relaxed)
            );
        }
        for source in self
            .sources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            source(&mut out);
        }
        family(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", self.started_unix);
        if let Some(rss) = resident_bytes() {
            family(
                &mut out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
            );
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        family(
            &mut out,
            "ostiary_uptime_seconds",
            "gauge",
            "Seconds since this node started.",
        );
        let _ = writeln!(
            out,
            "ostiary_uptime_seconds {}",
            self.started.elapsed().as_secs()
        );
        out
    }
}

/// Writes a metric family's `HELP` and `TYPE` lines.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The layer that puts [`Track`] around every route (`Router::layer` runs it after routing, so
/// the route's pattern is known).
#[derive(Clone, Debug)]
pub struct TrackLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// Around every request: its id and log span, then its count and latency. Only the route's
/// pattern is logged, never the path or query (codes and tokens travel there). A service of its
/// own rather than `middleware::from_fn`, which boxes three times per request.
#[derive(Clone, Debug)]
pub struct Track<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let id = self
            .metrics
            .request_id(request.headers().get("x-request-id"));
        // Few fields: the log layer formats them for every request.
        let span = tracing::info_span!(
            "request",
            id = id.to_str().unwrap_or("-"),
            route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        );
        let method = request.method().clone();
        let answer = self.inner.call(request).instrument(span.clone());
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let Ok(mut response) = answer.await;
            let elapsed = started.elapsed();
            let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
            metrics.observe(route, response.status(), elapsed);
            tracing::debug!(
                parent: &span,
                method = %method,
                status = response.status().as_u16(),
                micros = elapsed.as_micros() as u64,
                "answered"
            );
            response.headers_mut().insert("x-request-id", id);
            Ok(response)
        })
    }
}

/// `GET /metrics`.
pub async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_and_buckets() {
        let metrics = Metrics::default();
        metrics.observe("/oauth2/token", StatusCode::OK, Duration::from_micros(700));
        metrics.observe("/oauth2/token", StatusCode::OK, Duration::from_millis(30));
        metrics.observe(
            "/oauth2/token",
            StatusCode::UNAUTHORIZED,
            Duration::from_secs(9),
        );
        metrics.token_issued(GrantType::ClientCredentials);
        metrics.login_failed(LoginRealm::Portal);
        metrics.add_source(|out| out.push_str("extra_gauge 7\n"));
        let text = metrics.render();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .to_owned()
        };
        assert!(
            line("ostiary_http_requests_total{route=\"/oauth2/token\",status=\"2xx\"}")
                .ends_with(" 2")
        );
        assert!(
            line("ostiary_http_requests_total{route=\"/oauth2/token\",status=\"4xx\"}")
                .ends_with(" 1")
        );
        assert!(
            line(
                "ostiary_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"0.001\"}"
            )
            .ends_with(" 1")
        );
        assert!(
            line(
                "ostiary_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"0.05\"}"
            )
            .ends_with(" 2")
        );
        assert!(
            line("ostiary_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"5\"}")
                .ends_with(" 2")
        );
        assert!(
            line(
                "ostiary_http_request_duration_seconds_bucket{route=\"/oauth2/token\",le=\"+Inf\"}"
            )
            .ends_with(" 3")
        );
        assert!(
            line("ostiary_http_request_duration_seconds_count{route=\"/oauth2/token\"}")
                .ends_with(" 3")
        );
        assert!(
            line("ostiary_tokens_issued_total{grant_type=\"client_credentials\"}").ends_with(" 1")
        );
        assert!(line("ostiary_tokens_issued_total{grant_type=\"password\"}").ends_with(" 0"));
        assert!(line("ostiary_login_failures_total{realm=\"portal\"}").ends_with(" 1"));
        assert!(line("ostiary_login_failures_total{realm=\"user\"}").ends_with(" 0"));
        assert_eq!(line("extra_gauge"), "extra_gauge 7");
    }

    #[test]
    fn history_keeps_an_hour_with_quiet_minutes_as_zeros() {
        let metrics = Metrics::default();
        metrics.login_failed(LoginRealm::User);
        metrics.login_failed(LoginRealm::User);
        metrics.token_issued(GrantType::Password);
        let now = crate::endpoints::now();
        let history = metrics.history(now);
        assert_eq!(history.len(), HISTORY_MINUTES);
        assert_eq!(history.last().map(|m| m.start), Some(now - now % 60));
        assert!(history.windows(2).all(|w| w[1].start - w[0].start == 60));
        // The counts land in this minute (or the one before, when the clock just turned).
        let failed: u64 = history.iter().map(|m| m.failed_logins).sum();
        let issued: u64 = history.iter().map(|m| m.tokens_issued).sum();
        assert_eq!((failed, issued), (2, 1));
        assert!(
            history[..HISTORY_MINUTES - 2]
                .iter()
                .all(|m| m.failed_logins == 0)
        );
        // An hour later the minute has left the window.
        assert!(
            metrics
                .history(now + 3600)
                .iter()
                .all(|m| m.failed_logins == 0)
        );
    }

    #[test]
    fn request_ids_are_taken_from_a_proxy_only_when_sane() {
        let metrics = Metrics::default();
        let ours = metrics.request_id(None);
        assert_eq!(ours.len(), 16);
        assert_ne!(ours, metrics.request_id(None));
        let theirs = HeaderValue::from_static("abc-123.def");
        assert_eq!(metrics.request_id(Some(&theirs)), theirs);
        let hostile = HeaderValue::from_static("a\"b c");
        assert_ne!(metrics.request_id(Some(&hostile)), hostile);
    }
}
