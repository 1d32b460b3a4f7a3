//! Every failure a request can meet, and the one place that turns it into a status and a
//! one-line `text/plain` reason (the go command shows that line to its user).

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// Malformed input, decided before any source is asked.
    #[error("{0}")]
    BadRequest(String),
    /// The request target is far too long.
    #[error("{0}")]
    TooLong(String),
    /// Not here (404) or gone (410): the go command moves on to its next proxy.
    #[error("{reason}")]
    NotFound { status: u16, reason: String },
    /// A route or the access policy denies the module.
    #[error("{0}")]
    Forbidden(String),
    /// An upstream refused the module by policy (403 or 451): passed on as that status.
    #[error("{reason}")]
    Refused { status: u16, reason: String },
    /// The version exists already (publishing is create-only).
    #[error("{0}")]
    Conflict(String),
    /// A request body over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// A key over its request rate.
    #[error("{0}")]
    TooManyRequests(String),
    /// No usable credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// The method is not one the target allows (`allow` lists those it does).
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// A source failed or sent something unusable.
    #[error("{0}")]
    BadGateway(String),
    /// A source did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The cache's storage failed.
    #[error("storage unavailable: {0}")]
    Storage(String),
}

impl ServeError {
    pub fn not_found(reason: impl Into<String>) -> Self {
        ServeError::NotFound { status: 404, reason: reason.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::TooLong(_) => StatusCode::URI_TOO_LONG,
            ServeError::NotFound { status, .. } => {
                if *status == 410 {
                    StatusCode::GONE
                } else {
                    StatusCode::NOT_FOUND
                }
            }
            ServeError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServeError::Refused { status, .. } => {
                StatusCode::from_u16(*status).ok().filter(|s| s.is_client_error()).unwrap_or(StatusCode::FORBIDDEN)
            }
            ServeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServeError::Conflict(_) => StatusCode::CONFLICT,
            ServeError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ServeError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServeError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ServeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ServeError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::Storage(e.to_string())
    }
}

/// One printable line: control characters dropped, length bounded.
pub fn one_line(s: &str) -> String {
    let line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(600).collect();
    line.trim().to_string()
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let allow = match &self {
            ServeError::MethodNotAllowed { allow } => Some(*allow),
            _ => None,
        };
        let mut body = one_line(&self.to_string());
        body.push('\n');
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"modgate\""));
        }
        if let Some(allow) = allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}
