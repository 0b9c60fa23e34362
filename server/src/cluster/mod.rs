//! V-Stack's storage cluster (seed 001): a metadata service and storage nodes as
//! real HTTP servers, each node with a network emulator in front of it.
//!
//! - [`wire`]: the JSON shapes both sides speak (node records, manifests, errors).
//! - [`metadata`]: node registry (register, heartbeat, health), video catalog,
//!   node list for clients. `vstack metadata` runs it alone.
//! - [`storage`]: one storage node: chunks on disk (atomic writes, hash verified
//!   on write, ids that could escape the data directory rejected), `Range`
//!   reads, `ping` for the client's monitor, `health`. `vstack node` runs one.
//! - [`emulator`]: per-node network conditions (latency + jitter, paced
//!   bandwidth shared by all responses, loss, down, slow disk), trace replay,
//!   named scenarios and a `--speed` factor.
//! - [`embedded`]: one call starts the metadata service and three nodes on
//!   ephemeral loopback ports and seeds `test-video-001`.
//! - [`ingest`]: `vstack ingest`: an HLS VOD (playlist + segments) into the
//!   cluster, one chunk per segment, replicated, nothing partial on error.
//!
//! Every HTTP error answers with a JSON body `{"error": "..."}` ([`ApiError`]).

pub mod cli;
pub mod embedded;
pub mod emulator;
pub mod ingest;
pub mod metadata;
pub mod storage;
pub mod wire;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};

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
            Json(wire::ErrorBody {
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
