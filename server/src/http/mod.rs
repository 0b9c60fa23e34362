//! HTTP plumbing every server of vstack shares (metadata service, storage
//! nodes, dashboard): the JSON error body and [`ApiError`], the check on ids
//! that end up in URLs and file names, and the SHA-256 helper; [`serve`], the
//! accept loop with connection limits every server runs.

pub mod host;
pub mod prom;
pub mod secret;
pub mod serve;
pub mod tls;

pub use serve::{ServeLimits, serve, serve_tls};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

/// Body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// An HTTP error with a JSON body `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The status code (4xx for the caller's mistakes, 5xx for ours).
    pub status: StatusCode,
    /// Human-readable cause.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// Checks an id used in URLs and file names (node, video, chunk ids): 1–128
/// characters from `A–Z a–z 0–9 - _ .`, not starting with `.`. This rules out
/// every id that could escape a data directory (`..`, `/`, `\`, NUL).
///
/// # Errors
/// [`ApiError`] 400 naming the id.
pub fn validate_id(kind: &str, id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid {kind} id {id:?}: use 1-128 characters from A-Z a-z 0-9 - _ . (not starting with .)"
        )))
    }
}

/// Hex SHA-256 of `bytes` (lower case, 64 characters).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Pending connections a listener queues before the kernel drops SYNs (the
/// kernel caps it at `net.core.somaxconn`). The default of 1024 overflowed
/// when a thousand sessions opened their first connections at once, and
/// every dropped SYN cost a client a 1 s retransmission.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener on `addr` with [`LISTEN_BACKLOG`] (address reuse as
/// `TcpListener::bind` does).
///
/// # Errors
/// The OS error of creating, binding or listening.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_are_rejected() {
        for bad in [
            "",
            "..",
            "../etc",
            "a/b",
            "a\\b",
            ".hidden",
            "a\0b",
            &"x".repeat(129),
        ] {
            assert!(validate_id("chunk", bad).is_err(), "{bad:?}");
        }
        for good in ["test-video-001-00000", "a.b_c", "X"] {
            assert!(validate_id("chunk", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
