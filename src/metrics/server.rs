//! The HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /healthz` (200 or 503 with
//! reasons). A deliberately tiny HTTP/1.1 responder — one request per connection, bounded
//! request size and time — because a scrape endpoint needs nothing more and every dependency
//! is weight on a line controller.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::Registry;

/// The verdict of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthStatus {
    /// Healthy overall.
    pub healthy: bool,
    /// One line per problem (empty when healthy).
    pub reasons: Vec<String>,
}

/// Something that can say whether the agent is healthy.
pub trait HealthCheck: Send + Sync + 'static {
    /// Current verdict.
    fn check(&self) -> HealthStatus;
}

impl<F> HealthCheck for F
where
    F: Fn() -> HealthStatus + Send + Sync + 'static,
{
    fn check(&self) -> HealthStatus {
        self()
    }
}

/// Longest request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// A client gets this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve `/metrics` and `/healthz` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    health: Arc<dyn HealthCheck>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let registry = registry.clone();
                let health = health.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, &registry, health.as_ref()).await {
                        tracing::debug!(error = %e, "metrics connection failed");
                    }
                });
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(
    mut stream: TcpStream,
    registry: &Registry,
    health: &dyn HealthCheck,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let (status, content_type, body) = route(&head, registry, health);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn route(
    head: &str,
    registry: &Registry,
    health: &dyn HealthCheck,
) -> (&'static str, &'static str, String) {
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return ("405 Method Not Allowed", "text/plain", "only GET\n".into());
    }
    match path {
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", registry.render()),
        "/healthz" => {
            let status = health.check();
            if status.healthy {
                ("200 OK", "text/plain", "ok\n".into())
            } else {
                let mut body = status.reasons.join("\n");
                body.push('\n');
                ("503 Service Unavailable", "text/plain", body)
            }
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /healthz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn scrape_metrics_and_health_over_real_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let registry = Registry::new();
        registry
            .counter("chocoline_test_total", "Test.", &[])
            .add(7);
        let healthy = Arc::new(AtomicBool::new(true));
        let h = healthy.clone();
        let check = move || HealthStatus {
            healthy: h.load(Ordering::SeqCst),
            reasons: vec!["acquire: no progress for 12s".into()],
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, registry, Arc::new(check), shutdown.clone()));

        let m = get(addr, "/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains("chocoline_test_total 7"), "{m}");

        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
        healthy.store(false, Ordering::SeqCst);
        let h = get(addr, "/healthz").await;
        assert!(h.starts_with("HTTP/1.1 503"), "{h}");
        assert!(h.contains("no progress"), "{h}");

        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        shutdown.cancel();
        task.await.unwrap();
    }
}
