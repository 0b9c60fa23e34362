//! Registration with the metadata service and the heartbeat loop.

use super::*;

/// Registers `node` (reachable at `public_url`) with the metadata service at
/// `metadata_url`, then heartbeats every `interval` until the task is dropped,
/// re-registering when the service forgot the node (e.g. after its restart).
/// Failures are logged and retried; this never returns.
pub async fn register_and_heartbeat(
    node: Arc<StorageNode>,
    metadata_url: String,
    public_url: String,
    interval: Duration,
) {
    let http = crate::cluster::auth::ClusterClient::new(
        node.config.cluster_token.clone(),
        &node.config.transport,
    );
    let base = metadata_url.trim_end_matches('/').to_string();
    let mut registered = false;
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        if node.emulator().is_partitioned() {
            continue;
        }
        if !registered {
            match register(&http, &base, node.node_id(), &public_url).await {
                Ok(i) => {
                    node.set_node_index(i);
                    registered = true;
                    tracing::debug!(node = node.node_id(), index = i, "registered with {base}");
                }
                Err(e) => {
                    tracing::warn!(node = node.node_id(), "registration failed: {e}");
                    continue;
                }
            }
        }
        let url = format!("{base}/nodes/{}/heartbeat", node.node_id());
        match http
            .post(&url)
            .json(&node.heartbeat_body().await)
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::NOT_FOUND => registered = false,
            Ok(_) => {}
            Err(e) => tracing::debug!(node = node.node_id(), "heartbeat failed: {e}"),
        }
    }
}

/// Client side of `POST /nodes/register`: returns the node's index.
///
/// # Errors
/// The HTTP or status error, as text.
pub async fn register(
    http: &crate::cluster::auth::ClusterClient,
    base: &str,
    node_id: &str,
    url: &str,
) -> Result<usize, String> {
    let r = http
        .post(format!("{base}/nodes/register"))
        .json(&RegisterNode {
            node_id: node_id.to_string(),
            url: url.to_string(),
        })
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        let status = r.status();
        return Err(format!("{status}: {}", r.text().await.unwrap_or_default()));
    }
    r.json::<Registered>()
        .await
        .map(|r| r.node_index)
        .map_err(|e| e.to_string())
}
