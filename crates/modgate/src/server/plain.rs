//! The plain-HTTP listener beside TLS when it only redirects: 308 to the same path over HTTPS,
//! except the health check, which load balancers probe over plain HTTP.

use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

pub async fn redirect_plain(listener: TcpListener, https_port: u16, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
            Ok::<_, std::convert::Infallible>(redirect_response(&req, https_port))
        });
        tokio::spawn(async move {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).keep_alive(false);
            let _ = b.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn redirect_response<B>(req: &hyper::Request<B>, https_port: u16) -> hyper::Response<String> {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut resp = hyper::Response::new(String::new());
    if path == "/healthz" {
        *resp.body_mut() = "ok\n".into();
        return resp;
    }
    // The host the client used, without its port, when it is a well-formed authority.
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .filter(|a| !a.as_str().contains('@'))
        .map(|a| a.host().to_string());
    let Some(host) = host.filter(|h| !h.is_empty() && path.starts_with('/')) else {
        *resp.status_mut() = hyper::StatusCode::BAD_REQUEST;
        *resp.body_mut() = "use https\n".into();
        return resp;
    };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    *resp.status_mut() = hyper::StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("https://{host}{port}{path}")) {
        resp.headers_mut().insert(hyper::header::LOCATION, v);
    }
    *resp.body_mut() = "use https\n".into();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, host: Option<&str>) -> hyper::Request<()> {
        let mut b = hyper::Request::get(target);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn redirects_keep_the_host_and_the_path() {
        let r = redirect_response(&req("/m/@v/list?x=1", Some("proxy.corp.example:80")), 8443);
        assert_eq!(r.status(), 308);
        assert_eq!(r.headers()["location"], "https://proxy.corp.example:8443/m/@v/list?x=1");
        let r = redirect_response(&req("/m/@v/list", Some("proxy.corp.example")), 443);
        assert_eq!(r.headers()["location"], "https://proxy.corp.example/m/@v/list");
        assert_eq!(redirect_response(&req("/healthz", None), 443).status(), 200);
        assert_eq!(redirect_response(&req("/m/@v/list", None), 443).status(), 400);
        assert_eq!(redirect_response(&req("/m/@v/list", Some("u@evil.example")), 443).status(), 400);
    }
}
