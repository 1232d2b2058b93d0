//! `--prometheus ADDR`: the `/metrics` endpoint.
//!
//! The event loop publishes what it knows at each refresh ([`MetricsServer::publish`]:
//! plain data, swapped under a lock held for a pointer's copy); a thread of its own
//! serves HTTP and encodes the exposition for each scrape
//! ([`gotrace_model::export::prometheus`]), so neither a slow scraper nor a large
//! exposition ever holds up the loop. The socket is bound before anything is attached:
//! an address in use is a one-line error, with nothing left behind.
use std::{
    convert::Infallible,
    net::{SocketAddr, TcpListener},
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, Result};
use gotrace_model::export::prometheus::{self, MetricsView};
use http_body_util::Full;
use hyper::{body::Bytes, header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

/// Scrapes served at once; more wait for their turn to be accepted.
const MAX_CONNECTIONS: usize = 32;
/// A client that has not sent its request's headers by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection open this long is closed (a scrape takes milliseconds).
const CONNECTION_LIMIT: Duration = Duration::from_secs(60);

/// The endpoint: a listening socket and the thread that serves it.
pub struct MetricsServer {
    view: Arc<Mutex<Arc<MetricsView>>>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving (an empty view until the first publish).
    pub fn start(addr: SocketAddr) -> Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("--prometheus: cannot listen on {addr}"))?;
        listener
            .set_nonblocking(true)
            .context("--prometheus: set the socket non-blocking")?;
        let addr = listener
            .local_addr()
            .context("--prometheus: read the address")?;
        let view = Arc::new(Mutex::new(Arc::new(MetricsView::default())));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = Arc::clone(&view);
        let thread = std::thread::Builder::new()
            .name("gotrace-metrics".into())
            .spawn(move || serve(listener, served, stopped))
            .context("--prometheus: start the server thread")?;
        Ok(MetricsServer {
            view,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens (the port chosen when ADDR's was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the next scrapes see.
    pub fn publish(&self, view: MetricsView) {
        let view = Arc::new(view);
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    view: Arc<Mutex<Arc<MetricsView>>>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gotrace: --prometheus: cannot start the server: {e}");
            return;
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("gotrace: --prometheus: cannot serve: {e}");
                return;
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let accept = async {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let stream = match listener.accept().await {
                    Ok((s, _)) => s,
                    // Out of fds, or a connection reset before it was taken: go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let view = Arc::clone(&view);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let view = Arc::clone(&view);
                        async move { Ok::<_, Infallible>(respond(&req, &view)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = tokio::time::timeout(CONNECTION_LIMIT, conn).await;
                    drop(slot);
                });
            }
        };
        tokio::select! {
            () = accept => {}
            _ = stopped => {}
        }
    });
}

fn respond<B>(req: &Request<B>, view: &Mutex<Arc<MetricsView>>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, ctype: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = header::HeaderValue::from_str(ctype) {
            r.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        r
    };
    let text = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            text,
            "use GET\n".to_string(),
        );
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let view = Arc::clone(&view.lock().unwrap_or_else(|e| e.into_inner()));
            reply(
                StatusCode::OK,
                prometheus::CONTENT_TYPE,
                prometheus::encode(view),
            )
        }
        "/" => reply(
            StatusCode::OK,
            text,
            "gotrace: the metrics are at /metrics\n".to_string(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            text,
            "not found: try /metrics\n".to_string(),
        ),
    }
}

/// Parses `--prometheus`'s ADDR: "host:port", "[v6]:port", or ":port" for every
/// interface.
pub fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    let full = match s.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => s.replace("localhost:", "127.0.0.1:"),
    };
    full.parse().map_err(|_| {
        format!("'{s}' is not a listen address (try :9464, 127.0.0.1:9464 or [::1]:9464)")
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_listen_addr(":9464").unwrap(),
            "0.0.0.0:9464".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("localhost:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("[::1]:9464").unwrap(),
            "[::1]:9464".parse().unwrap()
        );
        for bad in ["9464", "host:9464", ":99999", ""] {
            assert!(parse_listen_addr(bad).is_err(), "{bad}");
        }
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_what_was_published() {
        let server = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr();
        let req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let before = get(addr, req);
        assert!(before.starts_with("HTTP/1.1 200"), "{before}");
        assert!(before.contains("gotrace_traced_processes 0"), "{before}");
        assert!(before.contains("application/openmetrics-text"), "{before}");
        server.publish(MetricsView {
            lost_records: 3,
            ..Default::default()
        });
        let after = get(addr, req);
        assert!(after.contains("gotrace_lost_records_total 3"), "{after}");
        let missing = get(
            addr,
            "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = get(
            addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        // A second server on the same address is refused with the address in the error.
        let err = MetricsServer::start(addr).err().unwrap();
        assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
        drop(server);
        // Stopped: nothing listens any more.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
