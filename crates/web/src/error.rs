//! Errors of the web layer and how each is answered.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use x402scope_store::StoreError;

/// Why a request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    /// The request is malformed: the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The store failed; details are logged, the message is generic.
    #[error("the store failed: {0}")]
    Store(String),
    #[error("cannot render the page: {0}")]
    Render(String),
}

impl WebError {
    pub fn bad(msg: impl Into<String>) -> Self {
        WebError::BadRequest(msg.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(m) => WebError::BadRequest(m),
            other => {
                tracing::warn!(error = %other, "store query failed");
                WebError::Store(other.to_string())
            }
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Render(e.to_string())
    }
}

/// The body of every API error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, for a person.
    pub error: String,
    /// The HTTP status code.
    pub status: u16,
}

impl ErrorBody {
    pub fn of(e: &WebError) -> Self {
        ErrorBody {
            error: e.to_string(),
            status: e.status().as_u16(),
        }
    }
}
