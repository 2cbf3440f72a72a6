//! Fetching a URL a client named (`request_uri`, `jwks_uri`): the server makes a request on an
//! outsider's behalf, so it is bounded in size and time, follows no redirects, uses HTTPS, and goes
//! to public addresses only unless the configuration allows private ones (RFC 9101 §10.4, SSRF).
//! The address checked is the address connected to, so DNS cannot swap it in between.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Largest document fetched.
pub const MAX_FETCH_BYTES: usize = 64 * 1024;
/// Longest a fetch may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("not a usable URL")]
    BadUrl,
    #[error("only https URLs are fetched")]
    NotHttps,
    #[error("the host resolves to a private or loopback address")]
    PrivateAddress,
    #[error("the host cannot be resolved")]
    Unresolvable,
    #[error("the document is larger than {MAX_FETCH_BYTES} bytes")]
    TooLarge,
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the request failed: {0}")]
    Failed(String),
}

/// True for addresses a fetch on a client's behalf must not reach by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Fetches `url` under the rules above; `allow_private` lifts the address rule and allows plain
/// HTTP to loopback (development and tests).
pub async fn fetch(url: &str, allow_private: bool) -> Result<Vec<u8>, FetchError> {
    let (client, parsed) = guarded(url, allow_private).await?;
    let mut response = client
        .get(parsed)
        .send()
        .await
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_FETCH_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Failed(e.to_string()))?
    {
        if body.len() + chunk.len() > MAX_FETCH_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Posts `form` to `url` under the rules of [`fetch`]; `Ok` on a success status (the body is
/// not read).
pub async fn post_form(
    url: &str,
    form: &[(&str, &str)],
    allow_private: bool,
) -> Result<(), FetchError> {
    let (client, parsed) = guarded(url, allow_private).await?;
    let response = client
        .post(parsed)
        .form(form)
        .send()
        .await
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    match response.status() {
        status if status.is_success() => Ok(()),
        status => Err(FetchError::Status(status.as_u16())),
    }
}

/// A client for `url` that connects only where the rules allow (the address checked here,
/// whatever DNS says next), follows no redirect and gives up after [`FETCH_TIMEOUT`].
async fn guarded(
    url: &str,
    allow_private: bool,
) -> Result<(reqwest::Client, reqwest::Url), FetchError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl)?;
    let host = parsed.host_str().ok_or(FetchError::BadUrl)?.to_owned();
    let port = parsed.port_or_known_default().ok_or(FetchError::BadUrl)?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((bare_host, port)))
            .await
            .map_err(|_| FetchError::Unresolvable)?
            .map_err(|_| FetchError::Unresolvable)?
            .collect();
    let addr = *addrs.first().ok_or(FetchError::Unresolvable)?;
    if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        return Err(FetchError::PrivateAddress);
    }
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private && addrs.iter().all(|a| a.ip().is_loopback()) => {}
        _ => return Err(FetchError::NotHttps),
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .resolve(bare_host, addr)
        .build()
        .map_err(|e| FetchError::Failed(e.to_string()))?;
    Ok((client, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn private_and_plain_http_urls_are_refused_unless_allowed() {
        assert_eq!(
            fetch("http://127.0.0.1:1/x", false).await,
            Err(FetchError::PrivateAddress)
        );
        assert_eq!(
            fetch("https://10.0.0.1/x", false).await,
            Err(FetchError::PrivateAddress)
        );
        assert_eq!(
            fetch("ftp://127.0.0.1/x", true).await,
            Err(FetchError::NotHttps)
        );
        assert_eq!(fetch("not a url", true).await, Err(FetchError::BadUrl));
    }

    /// Serves `body` once per connection, as plain HTTP on loopback; returns the URL.
    async fn serve(body: Vec<u8>, status: &'static str) -> String {
        serve_with(body, status, "").await
    }

    /// As [`serve`], with `headers` (lines ending in CRLF) added to the response.
    async fn serve_with(body: Vec<u8>, status: &'static str, headers: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            }
        });
        format!("http://{addr}/doc")
    }

    #[tokio::test]
    async fn documents_are_bounded_in_size_and_need_a_success_status() {
        let small = serve(b"hello".to_vec(), "200 OK").await;
        assert_eq!(fetch(&small, true).await.unwrap(), b"hello");
        let large = serve(vec![b'x'; MAX_FETCH_BYTES + 1], "200 OK").await;
        assert_eq!(fetch(&large, true).await, Err(FetchError::TooLarge));
        let missing = serve(b"no".to_vec(), "404 Not Found").await;
        assert_eq!(fetch(&missing, true).await, Err(FetchError::Status(404)));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let target = serve(b"inside".to_vec(), "200 OK").await;
        // A public-looking answer that points elsewhere (here, loopback) is an error, not a hop.
        let location: &'static str = format!("location: {target}\r\n").leak();
        for status in [
            "301 Moved Permanently",
            "302 Found",
            "307 Temporary Redirect",
        ] {
            let redirecting = serve_with(Vec::new(), status, location).await;
            let code = status[..3].parse().unwrap();
            assert_eq!(
                fetch(&redirecting, true).await,
                Err(FetchError::Status(code))
            );
        }
    }

    #[tokio::test]
    async fn a_silent_or_dripping_server_is_given_up_on() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // One server accepts and never answers; the other answers a byte at a time, slower than
        // the document could arrive within the limit.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_url = format!("http://{}/doc", silent.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let dripping = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dripping_url = format!("http://{}/doc", dripping.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = dripping.accept().await {
                tokio::spawn(async move {
                    let _ = socket.read(&mut [0u8; 1024]).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
                    let _ = socket.write_all(head.as_bytes()).await;
                    for _ in 0..100 {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        if socket.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let started = std::time::Instant::now();
        let (silent, dripping) = tokio::join!(fetch(&silent_url, true), fetch(&dripping_url, true));
        assert!(matches!(silent, Err(FetchError::Failed(_))), "{silent:?}");
        assert!(
            matches!(dripping, Err(FetchError::Failed(_))),
            "{dripping:?}"
        );
        // Both gave up at the limit, long before the 50 s the drip would take.
        assert!(
            started.elapsed() < FETCH_TIMEOUT * 3,
            "{:?}",
            started.elapsed()
        );
    }
}
