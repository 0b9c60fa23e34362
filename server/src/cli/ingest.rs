//! `vstack ingest`: an HLS VOD (playlist + segments) into a running cluster,
//! each chunk record committed through ChunkPaxos.

use std::path::PathBuf;

use clap::Args;

use super::BadInput;
use crate::cluster::ingest::{IngestError, PlaylistRules, ingest_with};

/// Options of `vstack ingest`.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// HLS media playlist (`.m3u8`) or a folder holding exactly one.
    pub path: PathBuf,
    /// Metadata service of the cluster.
    #[arg(
        long,
        env = "METADATA_SERVICE_URL",
        default_value = crate::cluster::metadata::DEFAULT_URL
    )]
    pub metadata_url: String,
    /// Video id. Default: the playlist's folder name for index.m3u8, else its
    /// file name without extension.
    #[arg(long)]
    pub video_id: Option<String>,
    /// Replicas per chunk (capped at the healthy node count).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub replication: u64,
    /// Allow segments outside the playlist's folder (`../x.ts`, absolute
    /// paths, symlinks leading out). Off by default.
    #[arg(long)]
    pub allow_outside: bool,
    /// The cluster token (or a file holding it).
    #[command(flatten)]
    pub token: super::ClusterTokenArgs,
}

/// Runs `vstack ingest`.
///
/// # Errors
/// [`BadInput`] for a bad playlist (nothing uploaded); others for cluster
/// failures (partial uploads removed).
pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let http = args.token.client(args.token.required().await?).await?;
    match ingest_with(
        &http,
        &args.metadata_url,
        &args.path,
        args.video_id.as_deref(),
        args.replication as usize,
        PlaylistRules {
            allow_outside: args.allow_outside,
        },
    )
    .await
    {
        Ok(r) => {
            println!(
                "ingested {} (version {}): {} chunks, {:.1} s, {:.1} MB, replication {} over {} in {:.0} ms",
                r.video.video_id,
                r.version,
                r.video.chunk_count,
                r.video.duration_ms as f64 / 1e3,
                r.video.size_bytes as f64 / 1e6,
                r.replication,
                r.nodes.join(", "),
                r.upload_ms
            );
            if !r.rungs.is_empty() {
                println!(
                    "ladder: {} is the top rung; lower rungs ingested as {}",
                    r.video.video_id,
                    r.rungs
                        .iter()
                        .map(|v| format!("{} ({:.1} MB)", v.video_id, v.size_bytes as f64 / 1e6))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let c = &r.consensus;
            println!(
                "ChunkPaxos: {} chunk records committed, {} on the fast path, {} won by another uploader; {} messages ({:.1} per chunk)",
                c.chunks,
                c.fast,
                c.lost,
                c.messages,
                c.messages as f64 / c.chunks.max(1) as f64
            );
            Ok(())
        }
        Err(e @ IngestError::Cluster(_)) => Err(e.into()),
        Err(e) => Err(BadInput(e.to_string()).into()),
    }
}
