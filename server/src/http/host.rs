//! The `Host` check of the cluster's listeners (storage nodes, metadata
//! service) and the dashboard's metrics listener: the guard against DNS
//! rebinding, where a page on another site re-points its own name at
//! `127.0.0.1` (or a node's address) and then reads the answers.
//!
//! A rebinding page can only send its own name as `Host`, so a request is
//! served when its `Host` is an IP literal (how the cluster's processes and
//! `vstack node --public-url http://10.0.0.5:8081` address each other), a
//! loopback name (`localhost`), or a name the operator allowed (a node's
//! `--public-url` host, `--allow-host`). Anything else gets 421 with a JSON
//! body. A request without `Host` (HTTP/1.0, an in-process test) cannot
//! come from a browser page and passes.

use std::{net::IpAddr, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::ApiError;

/// Host names (besides IP literals and `localhost`) a listener answers.
/// Default: none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList {
    names: Vec<String>,
}

impl HostAllowList {
    /// A list of `names` (host names without port, any case).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            names: names
                .into_iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// The list plus the host of `url` (`http(s)://host[:port]/…`), if it
    /// has one that is a name.
    #[must_use]
    pub fn with_url_host(mut self, url: &str) -> Self {
        if let Ok(u) = reqwest::Url::parse(url)
            && let Some(h) = u.host_str()
        {
            self.names.push(h.to_ascii_lowercase());
        }
        self
    }

    /// Whether `host_header` (a `Host` value, with or without port) is
    /// served.
    pub fn allows(&self, host_header: &str) -> bool {
        let host = strip_port(host_header.trim());
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<IpAddr>().is_ok()
            || bare.eq_ignore_ascii_case("localhost")
            || self.names.iter().any(|n| n.eq_ignore_ascii_case(bare))
    }
}

fn strip_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split_once(']').map_or(h, |(a, _)| &h[..=a.len()]);
    }
    match h.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => h,
    }
}

/// Middleware: 421 JSON for a `Host` the list does not allow.
pub async fn host_guard(
    State(list): State<Arc<HostAllowList>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    match host {
        Some(h) if !list.allows(&h) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!("host {h:?} is not served here (address it by IP, or allow the name)"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_localhost_and_allowed_names_only() {
        let l = HostAllowList::new(["node1.internal".to_string()])
            .with_url_host("https://Node2.Example:8443/x");
        for ok in [
            "127.0.0.1:8081",
            "10.0.0.5",
            "[::1]:8080",
            "::1",
            "localhost:8080",
            "node1.internal:8081",
            "node2.example",
        ] {
            assert!(l.allows(ok), "{ok}");
        }
        for bad in [
            "attacker.example",
            "attacker.example:8081",
            "127.0.0.1.evil.example",
        ] {
            assert!(!l.allows(bad), "{bad}");
        }
    }
}
