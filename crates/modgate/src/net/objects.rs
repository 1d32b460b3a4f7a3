//! The HTTP under the object-storage client: `object_store` signs and shapes its S3 requests,
//! and they travel over modgate's own connector (`client::connector`), so the bucket is
//! reached the way every other outbound connection is — the egress proxy's rules, the same
//! trust roots — and no second HTTP or TLS stack is built into the binary.

use super::egress::{matcher, EgressConnector};
use crate::config::Egress;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody, HttpResponse,
    HttpResponseBody, HttpService,
};
use std::sync::Arc;
use std::time::Duration;

type Inner = Client<hyper_rustls::HttpsConnector<EgressConnector>, HttpRequestBody>;

/// Makes the object store's clients; `timeout` bounds a connection and an answer's head.
#[derive(Debug, Clone)]
pub struct ObjectsHttp {
    egress: Egress,
    timeout: Duration,
}

impl ObjectsHttp {
    pub fn new(egress: &Egress, timeout: Duration) -> Self {
        Self { egress: egress.clone(), timeout }
    }
}

impl HttpConnector for ObjectsHttp {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        let https = super::client::connector(Arc::new(matcher(&self.egress)), self.timeout);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .build(https);
        Ok(HttpClient::new(Service { client, timeout: self.timeout }))
    }
}

struct Service {
    client: Inner,
    timeout: Duration,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("timeout", &self.timeout).finish()
    }
}

#[async_trait::async_trait]
impl HttpService for Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let answer = tokio::time::timeout(self.timeout, self.client.request(req)).await;
        let resp = match answer {
            Err(_) => return Err(HttpError::new(HttpErrorKind::Timeout, TimedOut(self.timeout))),
            Ok(Err(e)) => {
                let kind = if e.is_connect() { HttpErrorKind::Connect } else { HttpErrorKind::Request };
                return Err(HttpError::new(kind, e));
            }
            Ok(Ok(resp)) => resp,
        };
        let (parts, body) = resp.into_parts();
        let body = body.map_err(|e| HttpError::new(HttpErrorKind::Interrupted, e));
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?}")]
struct TimedOut(Duration);
