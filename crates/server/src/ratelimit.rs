//! Limits: failed logins per user and per client address (RFC 9700 §4.16 asks for brute-force
//! protection), failed client authentications per address, and requests per client and per
//! address at the token and registration endpoints (the configuration's `rate_limits`). Counters
//! live in this node's memory: a multi-node deployment limits per node.
//!
//! The client's address is the connection's peer, or — when the peer is one of the configured
//! `trusted_proxies` — the nearest untrusted address the proxies name in `Forwarded` or
//! `X-Forwarded-For`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::config::AddressBlock;
use crate::error::ServerError;
use crate::state::Server;

/// Failed sign-ins allowed within [`WINDOW`]: per user from one client address, per client
/// address (the login form's), and per user from every address together. Counted per user and
/// address, a stranger's guesses do not lock the user out at their own address; the ceiling
/// over all addresses stops guesses spread over many (RFC 9700 §4.16).
pub const PER_USER: u32 = 5;
pub const PER_ADDRESS: u32 = 30;
pub const PER_USER_ALL_ADDRESSES: u32 = 100;
pub const WINDOW: Duration = Duration::from_secs(300);
/// A key locked out again waits twice as long as the time before, up to this many windows (5, 10,
/// 20, then 40 minutes for sign-ins), as Keycloak's wait increment does: a patient guesser gets
/// five guesses in 40 minutes instead of five in five. Only keys that name the guesser's address
/// grow so ([`Limiter::fail_escalating`]).
pub const LONGEST_LOCKOUT: u32 = 8;
/// A key that fails nothing for this long starts again from one window.
pub const FORGET_LOCKOUTS: Duration = Duration::from_secs(12 * 3600);
/// The window of the per-minute request limits.
pub const MINUTE: Duration = Duration::from_secs(60);
/// Beyond this many tracked keys, expired ones are dropped (memory stays bounded).
const MAX_KEYS: usize = 100_000;

/// Events (failed logins, failed client authentications, requests) counted per key in fixed
/// windows. Failures beyond a limit lock the key out until its window ends, and each lockout
/// lengthens the key's next window ([`LONGEST_LOCKOUT`]); requests ([`Limiter::take`]) wait for
/// the window alone.
#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    failures: Mutex<HashMap<String, Count>>,
    /// See [`Limiter::turn`].
    turns: Box<[tokio::sync::Mutex<()>]>,
    stripes: std::hash::RandomState,
}

/// One key's events in its current window.
#[derive(Debug, Clone, Copy)]
struct Count {
    events: u32,
    since: Instant,
    /// Windows of this key that ended in a lockout, one after another: each doubles the next.
    lockouts: u32,
    last: Instant,
}

impl Count {
    fn new() -> Self {
        let now = Instant::now();
        Count {
            events: 0,
            since: now,
            lockouts: 0,
            last: now,
        }
    }

    fn window(&self, window: Duration) -> Duration {
        window * 2u32.saturating_pow(self.lockouts).min(LONGEST_LOCKOUT)
    }
}

/// Locks that password checks take turns on, by key (a key shares its lock with 1/64 of the others).
const TURNS: usize = 64;

impl Default for Limiter {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

impl Limiter {
    pub fn with_window(window: Duration) -> Self {
        Limiter {
            window,
            failures: Default::default(),
            turns: (0..TURNS).map(|_| Default::default()).collect(),
            stripes: Default::default(),
        }
    }

    /// Waits for `key`'s turn: checks of one key's password hold it from the limit check to the
    /// counted failure, so that guesses sent in parallel are checked one after another and each
    /// sees the failures before it (parallel guesses cannot all pass the limit). Correct
    /// passwords sent in parallel take turns too, and all pass.
    pub async fn turn(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher as _;
        let stripe = self.stripes.hash_one(key) as usize % TURNS;
        self.turns[stripe].lock().await
    }

    /// How long `key` must wait, when it has used up `limit` failures in its window.
    pub fn blocked(&self, key: &str, limit: u32) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.get(key)?;
        let (age, window) = (count.since.elapsed(), count.window(self.window));
        (count.events >= limit && age < window).then(|| window - age)
    }

    /// Counts a failure of `key` in its window.
    pub fn fail(&self, key: &str) {
        self.count_failure(key, None);
    }

    /// [`Limiter::fail`] for a key whose lockouts grow: the first failure after a window that
    /// ended with `limit` failures (a lockout) opens a window twice as long. For keys that name
    /// the guesser's address: a key that anyone could lock would let them hold its owner out.
    pub fn fail_escalating(&self, key: &str, limit: u32) {
        self.count_failure(key, Some(limit));
    }

    fn count_failure(&self, key: &str, escalating_at: Option<u32>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = Self::entry(&mut failures, key, self.window);
        if count.last.elapsed() >= FORGET_LOCKOUTS {
            count.lockouts = 0;
        }
        if count.since.elapsed() >= count.window(self.window) {
            if escalating_at.is_some_and(|limit| count.events >= limit) {
                count.lockouts = count.lockouts.saturating_add(1);
            }
            (count.events, count.since) = (0, Instant::now());
        }
        count.events = count.events.saturating_add(1);
        count.last = Instant::now();
    }

    /// Counts one event for `key` unless it has used up `limit` (0: no limit); when it has,
    /// how long it must wait.
    pub fn take(&self, key: &str, limit: u32) -> Result<(), Duration> {
        if limit == 0 {
            return Ok(());
        }
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = Self::entry(&mut failures, key, self.window);
        if count.since.elapsed() >= self.window {
            *count = Count::new();
        }
        count.events = count.events.saturating_add(1);
        if count.events > limit {
            Err(self.window.saturating_sub(count.since.elapsed()))
        } else {
            Ok(())
        }
    }

    /// `key`'s count, made when missing. Beyond [`MAX_KEYS`] keys, those whose window has ended
    /// and whose lockouts are forgotten go first (memory stays bounded).
    fn entry<'a>(
        failures: &'a mut HashMap<String, Count>,
        key: &str,
        window: Duration,
    ) -> &'a mut Count {
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, count| {
                count.since.elapsed() < count.window(window)
                    || (count.lockouts > 0 && count.last.elapsed() < FORGET_LOCKOUTS)
            });
        }
        failures.entry(key.to_owned()).or_insert_with(Count::new)
    }

    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// One sign-in's counters: its user from its client address, and its user from anywhere.
#[derive(Debug)]
pub struct SignIn<'a> {
    limiter: &'a Limiter,
    user: String,
    user_here: String,
}

impl Limiter {
    /// The counters of `username` signing in from the client address counted as `address`.
    pub fn sign_in(&self, username: &str, address: &str) -> SignIn<'_> {
        SignIn {
            limiter: self,
            user: format!("user:{username}"),
            user_here: format!("user:{username}@{address}"),
        }
    }
}

impl SignIn<'_> {
    /// Waits for the user's turn (see [`Limiter::turn`]).
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.limiter.turn(&self.user).await
    }

    /// How long this attempt must wait, when the user has used up a limit.
    pub fn blocked(&self) -> Option<Duration> {
        let here = self.limiter.blocked(&self.user_here, PER_USER);
        here.or_else(|| self.limiter.blocked(&self.user, PER_USER_ALL_ADDRESSES))
    }

    pub fn failed(&self) {
        self.limiter.fail_escalating(&self.user_here, PER_USER);
        self.limiter.fail(&self.user);
    }

    /// The right password clears this address's failures; those of other addresses stay.
    pub fn succeeded(&self) {
        self.limiter.reset(&self.user_here);
    }
}

/// The node's request counters: requests per minute, and failed client authentications.
#[derive(Debug)]
pub struct RequestLimits {
    pub requests: Limiter,
    pub client_auth_failures: Limiter,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            requests: Limiter::with_window(MINUTE),
            client_auth_failures: Limiter::default(),
        }
    }
}

impl RequestLimits {
    /// Counts a request under the key `key` makes, refusing it beyond `limit` a minute; with no
    /// limit (0) nothing is counted and no key is made (the token endpoint's hot path).
    pub fn admit(&self, limit: u32, key: impl FnOnce() -> String) -> Result<(), ServerError> {
        if limit == 0 {
            return Ok(());
        }
        self.requests.take(&key(), limit).map_err(too_many)
    }
}

/// The answer to a request over a limit: 429 with `Retry-After` (whole seconds, rounded up).
pub fn too_many(wait: Duration) -> ServerError {
    ServerError::RateLimited {
        retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    }
}

/// Who is asking: the client's address (see the module's documentation), when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub address: Option<IpAddr>,
}

impl Caller {
    /// The key its address is counted under.
    pub fn key(&self) -> String {
        match self.address {
            Some(ip) => format!("ip:{ip}"),
            None => "ip:unknown".into(),
        }
    }
}

impl FromRequestParts<Server> for Caller {
    type Rejection = ServerError;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<Self, ServerError> {
        Caller::of(parts, server).await
    }
}

impl Caller {
    /// The caller of the request `parts` came with, per `server`'s trusted proxies.
    pub async fn of(parts: &Parts, server: &Server) -> Result<Self, ServerError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let config = server.config().await?;
        let address = match peer {
            Some(peer) if !config.trusted_proxies.is_empty() => {
                Some(client_address(peer, &parts.headers, &config.proxy_blocks()))
            }
            peer => peer,
        };
        Ok(Caller { address })
    }
}

/// The client's address behind `trusted` proxies: walking the forwarded chain from the nearest
/// hop, the first address that is not a trusted proxy. `Forwarded` (RFC 7239) is read when sent,
/// else `X-Forwarded-For`; headers from an untrusted peer are ignored (anyone can send them).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[AddressBlock]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|block| block.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .collect()
    };
    let forwarded: Vec<String> = values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim().trim_matches('"').to_owned())
            })
        })
        .collect();
    let chain = if forwarded.is_empty() {
        values("x-forwarded-for")
    } else {
        forwarded
    };
    let mut client = peer;
    for hop in chain.iter().rev() {
        let Some(ip) = parse_node(hop) else {
            // `unknown`, an obfuscated name: the chain cannot be followed past it.
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

/// An address as `Forwarded` or `X-Forwarded-For` write it: `1.2.3.4`, `1.2.3.4:80`,
/// `[2001:db8::1]:80`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Ok(socket) = node.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strangers_guesses_lock_the_user_out_at_the_strangers_address_only() {
        let limiter = Limiter::default();
        let stranger = limiter.sign_in("alice", "ip:198.51.100.6");
        for _ in 0..PER_USER {
            assert!(stranger.blocked().is_none());
            stranger.failed();
        }
        assert!(stranger.blocked().is_some(), "the stranger waits");
        let alice = limiter.sign_in("alice", "ip:203.0.113.7");
        assert!(alice.blocked().is_none(), "alice, elsewhere, does not");
        alice.succeeded();
        assert!(
            stranger.blocked().is_some(),
            "her sign-in clears only her address"
        );
        // Guesses spread over many addresses meet the ceiling for all of them together.
        let spread = PER_USER_ALL_ADDRESSES / PER_USER;
        for n in 1..spread {
            let elsewhere = limiter.sign_in("alice", &format!("ip:10.0.0.{n}"));
            for _ in 0..PER_USER {
                elsewhere.failed();
            }
        }
        assert!(
            alice.blocked().is_some(),
            "{PER_USER_ALL_ADDRESSES} failures from anywhere"
        );
        assert!(limiter.sign_in("bob", "ip:10.0.0.1").blocked().is_none());
    }

    #[test]
    fn requests_over_the_limit_wait_for_the_window() {
        let limiter = Limiter::with_window(MINUTE);
        for _ in 0..3 {
            assert_eq!(limiter.take("client:a", 3), Ok(()));
        }
        let wait = limiter.take("client:a", 3).unwrap_err();
        assert!(wait <= MINUTE && wait > Duration::from_secs(50));
        assert_eq!(limiter.take("client:b", 3), Ok(()));
        assert!(
            (0..100).all(|_| limiter.take("client:a", 0).is_ok()),
            "0: no limit"
        );
    }

    #[test]
    fn the_client_address_is_taken_from_trusted_proxies_only() {
        let blocks: Vec<AddressBlock> = ["10.0.0.0/8", "::1"]
            .iter()
            .map(|b| b.parse().unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, value.parse().unwrap());
            }
            map
        };
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(
            client_address(ip("8.8.8.8"), &spoofed, &blocks),
            ip("8.8.8.8")
        );
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.1.1")]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &chain, &blocks),
            ip("203.0.113.7")
        );
        let rfc7239 = headers(&[
            ("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        assert_eq!(
            client_address(ip("::1"), &rfc7239, &blocks),
            ip("2001:db8::7")
        );
        let mapped = ip("::ffff:10.0.0.3");
        let short = headers(&[("forwarded", "for=192.0.2.60;proto=http, for=10.9.9.9")]);
        assert_eq!(client_address(mapped, &short, &blocks), ip("192.0.2.60"));
        let unknown = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &unknown, &blocks),
            ip("10.0.0.2")
        );
        assert!("10.0.0.0/33".parse::<AddressBlock>().is_err());
        assert!("not-an-ip".parse::<AddressBlock>().is_err());
    }

    #[test]
    fn a_key_is_blocked_after_its_limit() {
        let limiter = Limiter::default();
        for _ in 0..PER_USER - 1 {
            limiter.fail("user:alice");
        }
        assert!(limiter.blocked("user:alice", PER_USER).is_none());
        limiter.fail("user:alice");
        assert!(
            limiter
                .blocked("user:alice", PER_USER)
                .is_some_and(|d| d <= WINDOW)
        );
        assert!(limiter.blocked("user:bob", PER_USER).is_none());
        limiter.reset("user:alice");
        assert!(limiter.blocked("user:alice", PER_USER).is_none());
    }

    #[test]
    fn each_lockout_of_a_key_lasts_twice_as_long_as_the_one_before_up_to_eight_windows() {
        let window = Duration::from_millis(100);
        let limiter = Limiter::with_window(window);
        let lock_out = || {
            for _ in 0..3 {
                assert!(limiter.blocked("ip:a", 3).is_none());
                limiter.fail_escalating("ip:a", 3);
            }
            limiter.blocked("ip:a", 3).expect("locked out")
        };
        for lockout in 0..6 {
            let wait = lock_out();
            let longest = window * (1 << lockout.min(3));
            assert!(wait <= longest, "lockout {lockout}: {wait:?}");
            assert!(wait > longest - window / 2, "lockout {lockout}: {wait:?}");
            std::thread::sleep(wait);
        }
        // Another key starts from one window, and a key counted without escalation stays there.
        for _ in 0..3 {
            limiter.fail_escalating("ip:b", 3);
            limiter.fail("user:b");
        }
        for key in ["ip:b", "user:b"] {
            assert!(limiter.blocked(key, 3).is_some_and(|wait| wait <= window));
        }
        std::thread::sleep(window);
        for _ in 0..3 {
            limiter.fail("user:b");
        }
        assert!(
            limiter
                .blocked("user:b", 3)
                .is_some_and(|wait| wait <= window)
        );
        // The right password at an address clears its lockouts there.
        limiter.reset("ip:a");
        assert!(lock_out() <= window);
    }
}
