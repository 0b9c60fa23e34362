//! `vstack ingest`: an HLS VOD into the cluster.
//!
//! Input: a media playlist (`.m3u8`, e.g. from `ffmpeg -f hls -hls_time 10
//! -hls_playlist_type vod`) or a folder holding exactly one, or a
//! multivariant playlist (ffmpeg's `-master_pl_name` with `-var_stream_map`):
//! each variant is ingested as below, the lower ones as videos of their own
//! (`{id}-r0`, `{id}-r1`, …, lowest bandwidth first) and the top one last as
//! `{id}`, whose manifest lists them all as its ladder
//! ([`VideoManifest::ladder`]). Each `#EXTINF`
//! segment becomes one chunk with its real duration and bytes, hashed
//! (SHA-256), uploaded to `replication` nodes (chunk *i* on healthy nodes *i*,
//! *i*+1, … modulo their count) and finally registered as the video's manifest.
//!
//! Fragmented MP4 (CMAF) is what gets stored, because every browser's Media
//! Source Extensions take it (Firefox's and Safari's take no MPEG-TS):
//! - an fMP4 playlist's `#EXT-X-MAP` initialization segment becomes chunk 0,
//!   of no duration ([`VideoManifest::init_segment`]), stored, replicated and
//!   committed like any chunk, and fetched first because it comes first;
//! - a playlist of MPEG-TS segments is first remuxed to fMP4 with ffmpeg
//!   (`-c copy`: no re-encoding; [`remux_to_fmp4`]), then ingested as above.
//!
//! Nothing partial: the whole playlist and every segment are read and checked
//! before the first upload; if an upload fails, the chunks already uploaded are
//! deleted again and no manifest is registered (for a ladder, the rungs
//! registered before are deleted too). Byte ranges,
//! more than one `#EXT-X-MAP` and remote segment URLs are refused with an
//! error naming the file and line.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use vstack_core::consensus::ChunkRecord;

use super::{
    proposer::{self, CommitStats},
    storage::HASH_HEADER,
    wire::{
        ChunkEntry, MAX_RUNGS, NodeList, NodeRecord, RegistryHealth, Rung, VideoManifest,
        VideoSummary,
    },
};
use crate::http::{sha256_hex, validate_id};

/// One segment of a parsed playlist.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The segment file.
    pub path: PathBuf,
    /// Its `#EXTINF` duration; zero for the `#EXT-X-MAP` initialization
    /// segment, which [`parse_playlist_with`] lists first.
    pub duration: Duration,
}

/// Errors of ingest.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input path does not exist or cannot be read.
    #[error("{path}: {message}")]
    Input {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The playlist is malformed or unsupported.
    #[error("{path}:{line}: {message}")]
    Playlist {
        /// The playlist.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The cluster refused or failed (nothing was left behind).
    #[error("cluster: {0}")]
    Cluster(String),
}

impl IngestError {
    /// Whether the error is the user's input (CLI exit code 2) rather than the
    /// cluster's.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, IngestError::Cluster(_))
    }
}

/// Finds the playlist: `path` itself, or the only `.m3u8` in the folder `path`.
///
/// # Errors
/// [`IngestError::Input`] when missing or ambiguous.
pub fn find_playlist(path: &Path) -> Result<PathBuf, IngestError> {
    let input = |message: String| IngestError::Input {
        path: path.to_path_buf(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| input(e.to_string()))?;
    if meta.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| input(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "m3u8"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(input("no .m3u8 playlist in this folder".into())),
        n => Err(input(format!(
            "{n} playlists in this folder; pass the one to ingest"
        ))),
    }
}

/// Largest playlist file read, bytes (16 MiB: ~200 000 segment lines).
pub const MAX_PLAYLIST_BYTES: u64 = 16 << 20;
/// Most segments a playlist may list.
pub const MAX_SEGMENTS: usize = 100_000;
/// Largest segment file, bytes: a storage node's default upload bound.
pub const MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// Largest sum of a playlist's segments, bytes (they are held in memory
/// while uploading): 8 GiB.
pub const MAX_VIDEO_BYTES: u64 = 8 << 30;

/// What a playlist may point at. [`PlaylistRules::default`] is the safe one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaylistRules {
    /// Allow segments outside the playlist's folder (`../x.ts`, absolute
    /// paths, symlinks leading out). Default `false`: such a playlist is
    /// refused, so a playlist cannot upload `/etc/passwd` into the cluster.
    pub allow_outside: bool,
}

/// A playlist's text, at most [`MAX_PLAYLIST_BYTES`].
///
/// # Errors
/// [`IngestError::Input`] when unreadable or too large.
fn read_playlist(path: &Path) -> Result<String, IngestError> {
    let input = |message: String| IngestError::Input {
        path: path.to_path_buf(),
        message,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| input(e.to_string()))?
        .len();
    if len > MAX_PLAYLIST_BYTES {
        return Err(input(format!(
            "playlist of {len} bytes is over the {MAX_PLAYLIST_BYTES} byte bound"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| input(e.to_string()))
}

/// Parses a media playlist with [`PlaylistRules::default`]; segment paths are
/// resolved against its folder and must stay inside it.
///
/// # Errors
/// See [`parse_playlist_with`].
pub fn parse_playlist(path: &Path) -> Result<Vec<Segment>, IngestError> {
    parse_playlist_with(path, PlaylistRules::default())
}

/// Parses a media playlist (at most [`MAX_PLAYLIST_BYTES`], [`MAX_SEGMENTS`]
/// segments); segment paths are resolved against its folder.
///
/// # Errors
/// [`IngestError::Playlist`] naming the line for malformed or unsupported
/// content or a segment outside the folder (unless `rules.allow_outside`);
/// [`IngestError::Input`] when unreadable, too large or without segments.
pub fn parse_playlist_with(path: &Path, rules: PlaylistRules) -> Result<Vec<Segment>, IngestError> {
    let text = read_playlist(path)?;
    let err = |line: usize, message: &str| IngestError::Playlist {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    };
    let dir = playlist_dir(path);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    match lines.next() {
        Some((_, "#EXTM3U")) => {}
        _ => {
            return Err(err(
                1,
                "not an HLS playlist: the first line must be #EXTM3U",
            ));
        }
    }
    let mut segments = Vec::new();
    let mut init: Option<PathBuf> = None;
    let mut pending: Option<(usize, Duration)> = None;
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            let v = rest.split(',').next().unwrap_or("").trim();
            let secs: f64 = v
                .parse()
                .map_err(|_| err(n, &format!("bad #EXTINF duration {v:?}")))?;
            if !(secs.is_finite() && secs > 0.0 && secs < 3600.0) {
                return Err(err(
                    n,
                    &format!("#EXTINF duration {secs} out of range (0, 3600) s"),
                ));
            }
            pending = Some((n, Duration::from_secs_f64(secs)));
        } else if line.starts_with("#EXT-X-STREAM-INF") {
            return Err(err(
                n,
                "multivariant playlist: ingest reads it with parse_multivariant first",
            ));
        } else if line.starts_with("#EXT-X-BYTERANGE") {
            return Err(err(n, "byte-range segments are not supported"));
        } else if let Some(attrs) = line.strip_prefix("#EXT-X-MAP:") {
            if init.is_some() {
                return Err(err(
                    n,
                    "more than one #EXT-X-MAP: one initialization segment per video",
                ));
            }
            if !segments.is_empty() {
                return Err(err(n, "#EXT-X-MAP after the first segment"));
            }
            if attrs.contains("BYTERANGE") {
                return Err(err(
                    n,
                    "byte-range initialization segments are not supported",
                ));
            }
            let Some(uri) = quoted_attribute(attrs, "URI") else {
                return Err(err(n, "#EXT-X-MAP without a quoted URI attribute"));
            };
            init = Some(segment_path(dir, uri, rules).map_err(|m| err(n, &m))?);
        } else if line.starts_with('#') {
            continue;
        } else {
            let Some((_, duration)) = pending.take() else {
                return Err(err(n, "segment URI without a preceding #EXTINF"));
            };
            let seg = segment_path(dir, line, rules).map_err(|m| err(n, &m))?;
            if segments.len() >= MAX_SEGMENTS {
                return Err(err(n, &format!("more than {MAX_SEGMENTS} segments")));
            }
            segments.push(Segment {
                path: seg,
                duration,
            });
        }
    }
    if let Some((n, _)) = pending {
        return Err(err(n, "#EXTINF without a segment URI"));
    }
    if segments.is_empty() {
        return Err(IngestError::Input {
            path: path.to_path_buf(),
            message: "playlist lists no segments".into(),
        });
    }
    if let Some(init) = init {
        segments.insert(
            0,
            Segment {
                path: init,
                duration: Duration::ZERO,
            },
        );
    }
    Ok(segments)
}

/// A segment's file from its playlist line: local, and inside `dir` unless
/// `rules` allow otherwise. The error is the message for the line.
fn segment_path(dir: &Path, uri: &str, rules: PlaylistRules) -> Result<PathBuf, String> {
    if uri.contains("://") {
        return Err("remote segment URLs are not supported; download first".into());
    }
    let seg = dir.join(uri);
    if !rules.allow_outside && !inside(dir, &seg) {
        return Err(format!(
            "segment {uri:?} is outside the playlist's folder (pass --allow-outside to allow it)"
        ));
    }
    Ok(seg)
}

/// The value of `NAME="value"` in an HLS attribute list.
fn quoted_attribute<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = attrs;
    while let Some(i) = rest.find(name) {
        let before_ok = i == 0 || rest.as_bytes()[i - 1] == b',';
        let after = &rest[i + name.len()..];
        if before_ok && let Some(v) = after.strip_prefix("=\"") {
            return v.find('"').map(|end| &v[..end]);
        }
        rest = &rest[i + name.len()..];
    }
    None
}

/// The folder a playlist's segments must stay in: its parent, or the
/// working directory for a bare file name (whose parent is "", which does
/// not resolve).
fn playlist_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Whether `path` lies inside `dir` once both are resolved (`..`, absolute
/// paths and symlinks followed). A folder that does not resolve holds
/// nothing; a path that does not exist at all (not even as a dangling link)
/// is judged by its components: no `..`, not absolute.
fn inside(dir: &Path, path: &Path) -> bool {
    let Ok(d) = dir.canonicalize() else {
        return false;
    };
    match path.canonicalize() {
        Ok(p) => p.starts_with(d),
        Err(_) if path.symlink_metadata().is_ok() => false,
        Err(_) => path.strip_prefix(dir).is_ok_and(|rel| {
            rel.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        }),
    }
}

/// A video id from a playlist path: the folder name for `index.m3u8` /
/// `playlist.m3u8`, the file stem otherwise, with characters outside
/// `A–Z a–z 0–9 - _ .` replaced by `-`.
pub fn default_video_id(playlist: &Path) -> String {
    let stem = playlist
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = if matches!(stem.as_str(), "index" | "playlist" | "master" | "stream") {
        playlist
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or(stem)
    } else {
        stem
    };
    let id: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = id.trim_start_matches('.').to_string();
    if id.is_empty() { "video".into() } else { id }
}

/// (node URL, chunk id) uploaded, or (node URL, chunk id, why) failed.
type UploadResult = Result<(String, String), (String, String, String)>;

/// What `ingest` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// The registered video.
    pub video: VideoSummary,
    /// Replicas per chunk.
    pub replication: usize,
    /// Nodes used.
    pub nodes: Vec<String>,
    /// Wall time of the uploads, ms.
    pub upload_ms: f64,
    /// The ChunkPaxos commits of the chunk records.
    pub consensus: ConsensusReport,
    /// The video's version: 1 when new, the registered one when the content
    /// is unchanged, one more when it changed.
    pub version: u64,
    /// For a multivariant playlist, the lower rungs registered as videos of
    /// their own (`{id}-r{k}`, lowest first; `video` is the top rung and
    /// carries the ladder); empty for a media playlist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<VideoSummary>,
}

/// What committing the chunk records through ChunkPaxos took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsensusReport {
    /// Chunks committed.
    pub chunks: usize,
    /// Decided in the fast round (2·n messages each).
    pub fast: usize,
    /// Chunks where another uploader's record won (ours was removed).
    pub lost: usize,
    /// Messages exchanged, requests plus replies.
    pub messages: usize,
}

/// Commits `record` in the instance of `slot` (the record keeps its own
/// content-addressed chunk id).
async fn commit_slot(
    http: &crate::cluster::auth::ClusterClient,
    acceptors: &[String],
    proposer_id: u32,
    slot: &str,
    record: ChunkRecord,
) -> Result<(ChunkRecord, CommitStats), proposer::CommitError> {
    proposer::commit_instance(
        http,
        acceptors,
        slot,
        proposer_id,
        record,
        Duration::from_secs(5),
        20,
    )
    .await
}

/// A segment read from disk: its playlist entry and its bytes.
struct Payload {
    duration: Duration,
    bytes: bytes::Bytes,
}

/// Reads and checks every segment first, so a missing or empty one uploads
/// nothing.
fn read_segments(segments: &[Segment]) -> Result<Vec<Payload>, IngestError> {
    check_sizes(segments)?;
    segments
        .iter()
        .map(|s| {
            let bytes = std::fs::read(&s.path).map_err(|e| IngestError::Input {
                path: s.path.clone(),
                message: format!("segment unreadable: {e}"),
            })?;
            if bytes.is_empty() {
                return Err(IngestError::Input {
                    path: s.path.clone(),
                    message: "segment is empty".into(),
                });
            }
            Ok(Payload {
                duration: s.duration,
                bytes: bytes::Bytes::from(bytes),
            })
        })
        .collect()
}

/// Whether the playlist's media segments are MPEG-TS: no initialization
/// segment, and the first segment starts with the transport stream's sync
/// byte (0x47) every 188 bytes.
fn is_mpeg_ts(segments: &[Segment]) -> Result<bool, IngestError> {
    let Some(first) = segments.first() else {
        return Ok(false);
    };
    if first.duration.is_zero() {
        return Ok(false);
    }
    let mut head = [0u8; 189];
    let n = std::fs::File::open(&first.path)
        .and_then(|mut f| {
            use std::io::Read;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        })
        .map_err(|e| IngestError::Input {
            path: first.path.clone(),
            message: format!("segment unreadable: {e}"),
        })?;
    Ok(n == head.len() && head[0] == 0x47 && head[188] == 0x47)
}

/// The bounds of [`read_segments`], from the files' sizes alone.
fn check_sizes(segments: &[Segment]) -> Result<(), IngestError> {
    let mut total: u64 = 0;
    for s in segments {
        let bad = |message: String| IngestError::Input {
            path: s.path.clone(),
            message,
        };
        let len = std::fs::metadata(&s.path)
            .map_err(|e| bad(format!("segment unreadable: {e}")))?
            .len();
        if len > MAX_SEGMENT_BYTES {
            return Err(bad(format!(
                "segment of {len} bytes is over the {MAX_SEGMENT_BYTES} byte bound"
            )));
        }
        total = total.saturating_add(len);
        if total > MAX_VIDEO_BYTES {
            return Err(bad(format!(
                "the segments add up to over {MAX_VIDEO_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

/// Remuxes an HLS VOD of MPEG-TS segments to fragmented MP4 in `out`
/// (`index.m3u8`, `init.mp4`, `seg_NNNNN.m4s`) with ffmpeg, copying the
/// streams (`-c copy`: the bytes of the video and audio are not re-encoded;
/// ffmpeg's default picks one video and one audio stream). Segments are cut
/// at the first keyframe past the input's longest `#EXTINF`, so their count
/// and lengths stay close to the input's. ffmpeg reads local files only
/// (`-protocol_whitelist file`); the playlist was already checked to name
/// only segments inside its folder. Blocking: call it on the blocking pool.
///
/// # Errors
/// [`IngestError::Input`] when ffmpeg is not installed or fails (its message
/// included).
pub fn remux_to_fmp4(
    playlist: &Path,
    segments: &[Segment],
    out: &Path,
) -> Result<PathBuf, IngestError> {
    let longest = segments
        .iter()
        .map(|s| s.duration)
        .max()
        .unwrap_or(Duration::from_secs(10));
    let index = out.join("index.m3u8");
    let result = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(["-protocol_whitelist", "file", "-i"])
        .arg(playlist)
        .args(["-c", "copy", "-f", "hls", "-hls_playlist_type", "vod"])
        .args(["-hls_time", &format!("{:.3}", longest.as_secs_f64())])
        .args([
            "-hls_segment_type",
            "fmp4",
            "-hls_fmp4_init_filename",
            "init.mp4",
        ])
        .arg("-hls_segment_filename")
        .arg(out.join("seg_%05d.m4s"))
        .arg(&index)
        .stdin(std::process::Stdio::null())
        .output();
    let bad = |message: String| IngestError::Input {
        path: playlist.to_path_buf(),
        message,
    };
    match result {
        Ok(o) if o.status.success() => Ok(index),
        Ok(o) => Err(bad(format!(
            "remuxing the MPEG-TS segments to fMP4 with ffmpeg failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(bad(format!(
            "MPEG-TS segments are remuxed to fMP4 with ffmpeg, which did not run ({e}); \
             scripts/setup.sh installs it"
        ))),
    }
}

/// One upload: (node URL, chunk id, SHA-256, bytes).
type Upload = (String, String, String, bytes::Bytes);

/// Places chunk `i` on `r` healthy nodes from `i` on, under a
/// content-addressed id: a concurrent uploader of the same video stores its
/// bytes beside ours, never over them; ChunkPaxos picks one per slot.
fn plan(
    video_id: &str,
    payloads: &[Payload],
    healthy: &[NodeRecord],
    r: usize,
) -> (Vec<ChunkEntry>, Vec<Upload>) {
    let mut chunks = Vec::with_capacity(payloads.len());
    let mut uploads = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let sha256 = sha256_hex(&p.bytes);
        let chunk_id = format!("{video_id}-{i:05}-{}", &sha256[..8]);
        let replicas: Vec<usize> = (0..r).map(|k| (i + k) % healthy.len()).collect();
        for &n in &replicas {
            uploads.push((
                healthy[n].url.clone(),
                chunk_id.clone(),
                sha256.clone(),
                p.bytes.clone(),
            ));
        }
        chunks.push(ChunkEntry {
            index: i as u32,
            chunk_id,
            duration_ms: p.duration.as_millis() as u64,
            size_bytes: p.bytes.len() as u64,
            sha256,
            replicas: replicas
                .iter()
                .map(|&n| healthy[n].node_id.clone())
                .collect(),
            revision: 1,
        });
    }
    (chunks, uploads)
}

/// PUTs every replica, 8 at a time.
async fn upload_all(
    http: &crate::cluster::auth::ClusterClient,
    uploads: Vec<Upload>,
) -> Vec<UploadResult> {
    futures::stream::iter(uploads)
        .map(|(url, id, sha, bytes)| async move {
            let r = http
                .put(format!("{url}/chunks/{id}"))
                .header(HASH_HEADER, &sha)
                .body(bytes)
                .timeout(Duration::from_secs(120))
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => Ok((url, id)),
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    Err((url, id, format!("{status}: {body}")))
                }
                Err(e) => Err((url, id, e.to_string())),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Commits every chunk's record through its slot's ChunkPaxos instance (8 at
/// a time); the acceptors are every registered node (a fixed set: down nodes
/// just do not answer). Returns the chosen records, in chunk order.
async fn commit_all(
    http: &crate::cluster::auth::ClusterClient,
    acceptors: &[String],
    video_id: &str,
    version: u64,
    chunks: &[ChunkEntry],
) -> Result<(Vec<ChunkEntry>, ConsensusReport), String> {
    let proposer_id = rand::random::<u32>().max(1);
    let commits: Vec<Result<(ChunkRecord, CommitStats), String>> =
        futures::stream::iter(chunks.iter().enumerate())
            .map(|(i, c)| {
                let record = ChunkRecord {
                    chunk_id: c.chunk_id.clone(),
                    sha256: c.sha256.clone(),
                    size_bytes: c.size_bytes,
                    duration_ms: c.duration_ms,
                    replicas: c.replicas.clone(),
                    version,
                    uploader: format!("ingest-{proposer_id:08x}"),
                    revision: 1,
                };
                let slot = slot_of(video_id, version, i);
                async move {
                    commit_slot(http, acceptors, proposer_id, &slot, record)
                        .await
                        .map_err(|e| e.to_string())
                }
            })
            .buffered(8)
            .collect()
            .await;
    let mut consensus = ConsensusReport::default();
    let mut won = Vec::with_capacity(chunks.len());
    for (c, r) in chunks.iter().zip(commits) {
        let (chosen, stats) = r?;
        consensus.chunks += 1;
        consensus.fast += usize::from(stats.fast);
        consensus.messages += stats.messages;
        if chosen.chunk_id != c.chunk_id {
            consensus.lost += 1;
        }
        won.push(ChunkEntry {
            index: c.index,
            chunk_id: chosen.chunk_id,
            duration_ms: chosen.duration_ms,
            size_bytes: chosen.size_bytes,
            sha256: chosen.sha256,
            replicas: chosen.replicas,
            revision: chosen.revision,
        });
    }
    Ok((won, consensus))
}

/// Registers the manifest with the metadata service.
async fn register(
    http: &crate::cluster::auth::ClusterClient,
    base: &str,
    manifest: &VideoManifest,
) -> Result<VideoSummary, String> {
    let r = http
        .post(format!("{base}/videos"))
        .json(manifest)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        r.json::<VideoSummary>().await.map_err(|e| e.to_string())
    } else {
        Err(format!(
            "{}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ))
    }
}

/// Ingests the playlist (or folder) at `path` into the cluster whose metadata
/// service is at `metadata_url`.
///
/// # Errors
/// [`IngestError`]: bad input before anything is uploaded, or a cluster error
/// after which the partial upload has been removed.
pub async fn ingest(
    http: &crate::cluster::auth::ClusterClient,
    metadata_url: &str,
    path: &Path,
    video_id: Option<&str>,
    replication: usize,
) -> Result<IngestReport, IngestError> {
    ingest_with(
        http,
        metadata_url,
        path,
        video_id,
        replication,
        PlaylistRules::default(),
    )
    .await
}

/// [`ingest`] with explicit [`PlaylistRules`].
///
/// # Errors
/// As [`ingest`].
pub async fn ingest_with(
    http: &crate::cluster::auth::ClusterClient,
    metadata_url: &str,
    path: &Path,
    video_id: Option<&str>,
    replication: usize,
    rules: PlaylistRules,
) -> Result<IngestReport, IngestError> {
    let path_owned = path.to_path_buf();
    let (playlist, variants) = tokio::task::spawn_blocking(move || {
        let playlist = find_playlist(&path_owned)?;
        let variants = parse_multivariant(&playlist, rules)?;
        Ok::<_, IngestError>((playlist, variants))
    })
    .await
    .map_err(|e| IngestError::Cluster(format!("reading the playlist: {e}")))??;
    let video_id = video_id
        .map(str::to_string)
        .unwrap_or_else(|| default_video_id(&playlist));
    let Some(variants) = variants else {
        return ingest_media(
            http,
            metadata_url,
            &playlist,
            &video_id,
            replication,
            rules,
            Vec::new(),
        )
        .await;
    };
    // A multivariant playlist: every rung but the top one is a video of its
    // own (`{id}-r{k}`), registered first; the top one is `{id}` itself,
    // whose manifest carries the ladder.
    let top = variants.len() - 1;
    let ladder: Vec<Rung> = variants
        .iter()
        .enumerate()
        .map(|(k, v)| Rung {
            video_id: if k == top {
                video_id.clone()
            } else {
                format!("{video_id}-r{k}")
            },
            bandwidth_bps: v.bandwidth_bps,
        })
        .collect();
    let base = metadata_url.trim_end_matches('/');
    let mut rungs = Vec::new();
    for (v, rung) in variants.iter().zip(&ladder).take(top) {
        match ingest_media(
            http,
            metadata_url,
            &v.playlist,
            &rung.video_id,
            replication,
            rules,
            Vec::new(),
        )
        .await
        {
            Ok(r) => rungs.push(r.video),
            Err(e) => {
                unregister(http, base, &rungs).await;
                return Err(e);
            }
        }
    }
    match ingest_media(
        http,
        metadata_url,
        &variants[top].playlist,
        &video_id,
        replication,
        rules,
        ladder,
    )
    .await
    {
        Ok(mut report) => {
            report.rungs = rungs;
            Ok(report)
        }
        Err(e) => {
            unregister(http, base, &rungs).await;
            Err(e)
        }
    }
}

/// Deletes the videos of the rungs an ingest registered before it failed
/// (best effort: the metadata service removes their chunks from the nodes).
async fn unregister(
    http: &crate::cluster::auth::ClusterClient,
    base: &str,
    rungs: &[VideoSummary],
) {
    for r in rungs {
        let _ = http
            .delete(format!("{base}/videos/{}", r.video_id))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

/// One variant of a multivariant playlist.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its `BANDWIDTH`, bit/s.
    pub bandwidth_bps: u64,
    /// Its media playlist.
    pub playlist: PathBuf,
}

/// The variants of a multivariant (master) playlist, lowest `BANDWIDTH`
/// first; `None` for a media playlist. Each `#EXT-X-STREAM-INF` names a
/// local media playlist (inside the folder unless `rules.allow_outside`);
/// `#EXT-X-I-FRAME-STREAM-INF` lines are skipped.
///
/// # Errors
/// [`IngestError::Playlist`] naming the line: a missing or zero
/// `BANDWIDTH`, two variants of one bandwidth, `#EXT-X-MEDIA` (separate
/// audio or subtitle renditions are not supported), more than
/// [`MAX_RUNGS`] variants; [`IngestError::Input`] when unreadable or too
/// large.
pub fn parse_multivariant(
    path: &Path,
    rules: PlaylistRules,
) -> Result<Option<Vec<Variant>>, IngestError> {
    let text = read_playlist(path)?;
    if !text
        .lines()
        .any(|l| l.trim().starts_with("#EXT-X-STREAM-INF"))
    {
        return Ok(None);
    }
    let err = |line: usize, message: String| IngestError::Playlist {
        path: path.to_path_buf(),
        line,
        message,
    };
    let dir = playlist_dir(path);
    let mut variants: Vec<Variant> = Vec::new();
    let mut pending: Option<(usize, u64)> = None;
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() {
            continue;
        }
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bw = attrs
                .split(',')
                .find_map(|a| a.trim().strip_prefix("BANDWIDTH="))
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&b| b > 0)
                .ok_or_else(|| {
                    err(
                        n,
                        "#EXT-X-STREAM-INF without a BANDWIDTH of at least 1".into(),
                    )
                })?;
            pending = Some((n, bw));
        } else if line.starts_with("#EXT-X-MEDIA:") {
            return Err(err(
                n,
                "#EXT-X-MEDIA: separate audio or subtitle renditions are not supported (mux them into the variants)".into(),
            ));
        } else if line.starts_with('#') {
            continue;
        } else if let Some((_, bandwidth_bps)) = pending.take() {
            let playlist = segment_path(dir, line, rules).map_err(|m| err(n, m))?;
            if variants.iter().any(|v| v.bandwidth_bps == bandwidth_bps) {
                return Err(err(n, format!("two variants of BANDWIDTH={bandwidth_bps}")));
            }
            if variants.len() >= MAX_RUNGS {
                return Err(err(n, format!("more than {MAX_RUNGS} variants")));
            }
            variants.push(Variant {
                bandwidth_bps,
                playlist,
            });
        } else {
            return Err(err(n, "a URI without a preceding #EXT-X-STREAM-INF".into()));
        }
    }
    if let Some((n, _)) = pending {
        return Err(err(n, "#EXT-X-STREAM-INF without a playlist URI".into()));
    }
    variants.sort_by_key(|v| v.bandwidth_bps);
    Ok(Some(variants))
}

/// Ingests one media playlist as `video_id`, its manifest carrying `ladder`.
async fn ingest_media(
    http: &crate::cluster::auth::ClusterClient,
    metadata_url: &str,
    playlist: &Path,
    video_id: &str,
    replication: usize,
    rules: PlaylistRules,
    ladder: Vec<Rung>,
) -> Result<IngestReport, IngestError> {
    // The playlist and segment files are read off the async workers.
    let playlist_owned = playlist.to_path_buf();
    let (playlist, payloads) = tokio::task::spawn_blocking(move || {
        let playlist = playlist_owned;
        let segments = parse_playlist_with(&playlist, rules)?;
        if !is_mpeg_ts(&segments)? {
            let payloads = read_segments(&segments)?;
            return Ok::<_, IngestError>((playlist, payloads));
        }
        check_sizes(&segments)?;
        let out = tempfile::Builder::new()
            .prefix("vstack-remux-")
            .tempdir()
            .map_err(|e| IngestError::Cluster(format!("a folder for the remux: {e}")))?;
        let remuxed = remux_to_fmp4(&playlist, &segments, out.path())?;
        let payloads = read_segments(&parse_playlist(&remuxed)?)?;
        Ok((playlist, payloads))
    })
    .await
    .map_err(|e| IngestError::Cluster(format!("reading the playlist: {e}")))??;
    let video_id = video_id.to_string();
    validate_id("video", &video_id).map_err(|e| IngestError::Input {
        path: playlist.clone(),
        message: e.message,
    })?;
    let base = metadata_url.trim_end_matches('/');
    let all_nodes = get_json::<NodeList>(http, &format!("{base}/nodes"))
        .await?
        .nodes;
    let healthy: Vec<_> = all_nodes
        .iter()
        .filter(|n| n.health == RegistryHealth::Healthy)
        .cloned()
        .collect();
    if healthy.is_empty() {
        return Err(IngestError::Cluster("no healthy storage node".into()));
    }
    if replication == 0 {
        return Err(IngestError::Input {
            path: playlist,
            message: "replication must be at least 1".into(),
        });
    }
    let r = replication.min(healthy.len());
    let (chunks, uploads) = plan(&video_id, &payloads, &healthy, r);
    let version = next_version(http, base, &video_id, &chunks).await?;
    let started = std::time::Instant::now();
    let results = upload_all(http, uploads).await;
    let stored = || results.iter().filter_map(|r| r.as_ref().ok());
    if let Some(Err((url, id, why))) = results.iter().find(|r| r.is_err()) {
        let msg = format!("upload of {id} to {url} failed: {why}");
        rollback(http, stored()).await;
        return Err(IngestError::Cluster(msg));
    }
    let upload_ms = started.elapsed().as_secs_f64() * 1e3;
    let acceptors: Vec<String> = all_nodes.iter().map(|n| n.url.clone()).collect();
    let (won, consensus) = match commit_all(http, &acceptors, &video_id, version, &chunks).await {
        Ok(x) => x,
        Err(why) => {
            rollback(http, stored()).await;
            return Err(IngestError::Cluster(format!("consensus: {why}")));
        }
    };
    // Our copies of chunks another uploader won are orphans: remove them.
    let winners: std::collections::HashSet<&str> =
        won.iter().map(|c| c.chunk_id.as_str()).collect();
    rollback(
        http,
        stored().filter(|(_, id)| !winners.contains(id.as_str())),
    )
    .await;
    let manifest = VideoManifest {
        video_id: video_id.clone(),
        version,
        chunks: won,
        ladder,
    };
    let summary = match register(http, base, &manifest).await {
        Ok(s) => s,
        Err(why) => {
            rollback(http, stored()).await;
            return Err(IngestError::Cluster(format!(
                "registering the manifest: {why}"
            )));
        }
    };
    Ok(IngestReport {
        video: summary,
        replication: r,
        nodes: healthy.into_iter().map(|n| n.node_id).collect(),
        upload_ms,
        consensus,
        version,
        rungs: Vec::new(),
    })
}

/// The version this ingest commits: 1 for a new id, the registered version
/// when every chunk's hash is unchanged (the same records are chosen again),
/// else one more than the registered one.
async fn next_version(
    http: &crate::cluster::auth::ClusterClient,
    base: &str,
    video_id: &str,
    chunks: &[ChunkEntry],
) -> Result<u64, IngestError> {
    let url = format!("{base}/videos/{video_id}");
    let r = http
        .get(&url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| IngestError::Cluster(format!("{url}: {e}")))?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(1);
    }
    let old: VideoManifest = r
        .error_for_status()
        .map_err(|e| IngestError::Cluster(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| IngestError::Cluster(format!("{url}: {e}")))?;
    let same = old.chunks.len() == chunks.len()
        && old
            .chunks
            .iter()
            .zip(chunks)
            .all(|(a, b)| a.sha256 == b.sha256);
    if same {
        Ok(old.version)
    } else {
        old.version.checked_add(1).ok_or_else(|| {
            IngestError::Cluster(format!("video {video_id:?} is at the last version"))
        })
    }
}

/// The ChunkPaxos instance of chunk `index` of `version` of a video:
/// `film-00003` for version 1, `film-v2-00003` after.
pub fn slot_of(video_id: &str, version: u64, index: usize) -> String {
    if version <= 1 {
        format!("{video_id}-{index:05}")
    } else {
        format!("{video_id}-v{version}-{index:05}")
    }
}

/// The ChunkPaxos instance deciding revision `revision` of a chunk's record:
/// the slot itself for revision 1 (ingest), `{slot}-r{revision}` for each
/// replica-set change after. A chunk's records thus form a log of
/// single-decree instances: whoever proposes revision *k* + 1 learns, in that
/// instance, whether someone else's change won.
pub fn revision_slot(slot: &str, revision: u64) -> String {
    if revision <= 1 {
        slot.to_string()
    } else {
        format!("{slot}-r{revision}")
    }
}

async fn rollback<'a>(
    http: &crate::cluster::auth::ClusterClient,
    done: impl Iterator<Item = &'a (String, String)>,
) {
    let deletes = done.map(|(url, id)| {
        http.delete(format!("{url}/chunks/{id}"))
            .timeout(Duration::from_secs(10))
            .send()
    });
    let _ = futures::future::join_all(deletes).await;
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &crate::cluster::auth::ClusterClient,
    url: &str,
) -> Result<T, IngestError> {
    http.get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| IngestError::Cluster(format!("{url}: {e}")))?
        .json()
        .await
        .map_err(|e| IngestError::Cluster(format!("{url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn parses_an_ffmpeg_vod_playlist() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "index.m3u8",
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:10.000000,\nindex0.ts\n#EXTINF:4.500000,\nindex1.ts\n#EXT-X-ENDLIST\n",
        );
        let s = parse_playlist(&p).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].duration, Duration::from_millis(4500));
        assert_eq!(s[0].path, d.path().join("index0.ts"));
        assert_eq!(find_playlist(d.path()).unwrap(), p);
        assert_eq!(
            default_video_id(&p),
            d.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('.')
        );
        assert_eq!(default_video_id(Path::new("/x/My Film.m3u8")), "My-Film");
    }

    #[test]
    fn an_fmp4_playlist_lists_its_initialization_segment_first() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "index.m3u8",
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:10\n#EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:10.000000,\nseg_00000.m4s\n\
             #EXTINF:2.5,\nseg_00001.m4s\n#EXT-X-ENDLIST\n",
        );
        let s = parse_playlist(&p).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].path, d.path().join("init.mp4"));
        assert_eq!(s[0].duration, Duration::ZERO);
        assert_eq!(s[1].path, d.path().join("seg_00000.m4s"));
        assert_eq!(s[2].duration, Duration::from_millis(2500));
        assert_eq!(
            quoted_attribute("BYTERANGE=\"1@0\",URI=\"a b.mp4\"", "URI"),
            Some("a b.mp4")
        );
        assert_eq!(quoted_attribute("XURI=\"a\"", "URI"), None);
        assert_eq!(quoted_attribute("URI=a", "URI"), None);
    }

    #[test]
    fn only_mpeg_ts_is_remuxed() {
        let d = tempfile::tempdir().unwrap();
        let mut ts = vec![0u8; 188 * 3];
        ts[0] = 0x47;
        ts[188] = 0x47;
        std::fs::write(d.path().join("a.ts"), &ts).unwrap();
        std::fs::write(d.path().join("short.ts"), [0x47u8; 10]).unwrap();
        std::fs::write(d.path().join("a.m4s"), b"....moof").unwrap();
        let seg = |name: &str, secs: u64| Segment {
            path: d.path().join(name),
            duration: Duration::from_secs(secs),
        };
        assert!(is_mpeg_ts(&[seg("a.ts", 4)]).unwrap());
        assert!(!is_mpeg_ts(&[seg("short.ts", 4)]).unwrap());
        assert!(!is_mpeg_ts(&[seg("a.m4s", 4)]).unwrap());
        assert!(
            !is_mpeg_ts(&[seg("a.ts", 0), seg("a.ts", 4)]).unwrap(),
            "it has an init segment"
        );
        assert!(
            is_mpeg_ts(&[seg("missing.ts", 4)])
                .unwrap_err()
                .is_bad_input()
        );
    }

    #[test]
    fn a_multivariant_playlist_lists_its_variants_lowest_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("master.m3u8");
        std::fs::write(
            &p,
            "#EXTM3U\n#EXT-X-VERSION:7\n\
             #EXT-X-STREAM-INF:BANDWIDTH=5500000,RESOLUTION=854x480,CODECS=\"avc1.64001e\"\nv2/index.m3u8\n\n\
             #EXT-X-STREAM-INF:BANDWIDTH=880000,RESOLUTION=854x480\nv0/index.m3u8\n\
             #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI=\"i.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2200000\nv1/index.m3u8\n",
        )
        .unwrap();
        let v = parse_multivariant(&p, PlaylistRules::default())
            .unwrap()
            .unwrap();
        let bw: Vec<u64> = v.iter().map(|v| v.bandwidth_bps).collect();
        assert_eq!(bw, [880_000, 2_200_000, 5_500_000]);
        assert!(v[0].playlist.ends_with("v0/index.m3u8"), "{:?}", v[0]);
        // A media playlist is not one.
        let m = d.path().join("index.m3u8");
        std::fs::write(&m, "#EXTM3U\n#EXTINF:10,\na.m4s\n").unwrap();
        assert_eq!(
            parse_multivariant(&m, PlaylistRules::default()).unwrap(),
            None
        );
        for (text, needle) in [
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n",
                "BANDWIDTH",
            ),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=0\na.m3u8\n",
                "BANDWIDTH",
            ),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\na.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5\nb.m3u8\n",
                "two variants",
            ),
            (
                "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\"\n#EXT-X-STREAM-INF:BANDWIDTH=5\na.m3u8\n",
                "EXT-X-MEDIA",
            ),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\n../a.m3u8\n",
                "outside",
            ),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\n",
                "without a playlist URI",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = parse_multivariant(&p, PlaylistRules::default()).unwrap_err();
            assert!(
                e.is_bad_input() && e.to_string().contains(needle),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn broken_playlists_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        for (text, line, needle) in [
            ("hello\n", 1, "#EXTM3U"),
            ("#EXTM3U\n#EXTINF:abc,\na.ts\n", 2, "duration"),
            ("#EXTM3U\na.ts\n", 2, "without a preceding"),
            (
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n",
                2,
                "multivariant",
            ),
            ("#EXTM3U\n#EXTINF:10,\n", 2, "without a segment"),
            ("#EXTM3U\n#EXTINF:10,\nhttp://x/a.ts\n", 3, "remote"),
            (
                "#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXT-X-MAP:URI=\"j.mp4\"\n",
                3,
                "more than one",
            ),
            (
                "#EXTM3U\n#EXTINF:10,\na.m4s\n#EXT-X-MAP:URI=\"i.mp4\"\n",
                4,
                "after the first segment",
            ),
            (
                "#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\",BYTERANGE=\"800@0\"\n",
                2,
                "byte-range",
            ),
            ("#EXTM3U\n#EXT-X-MAP:URI=i.mp4\n", 2, "quoted URI"),
            ("#EXTM3U\n#EXT-X-MAP:URI=\"../i.mp4\"\n", 2, "outside"),
            ("#EXTM3U\n#EXT-X-MAP:URI=\"http://x/i.mp4\"\n", 2, "remote"),
        ] {
            let p = write(d.path(), "p.m3u8", text);
            match parse_playlist(&p) {
                Err(IngestError::Playlist {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, line, "{text:?}: {message}");
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = find_playlist(&d.path().join("missing.m3u8")).unwrap_err();
        assert!(e.is_bad_input());
    }

    #[test]
    fn segments_outside_the_playlist_folder_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("clip");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(root.path().join("secret.ts"), b"secret").unwrap();
        std::fs::write(dir.join("a.ts"), b"ok").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("secret.ts"), dir.join("link.ts")).unwrap();
        let secret = root.path().join("secret.ts");
        let mut outside = vec!["../secret.ts".to_string(), secret.display().to_string()];
        if cfg!(unix) {
            outside.push("link.ts".into());
        }
        for seg in outside {
            let p = dir.join("index.m3u8");
            std::fs::write(
                &p,
                format!("#EXTM3U\n#EXTINF:2,\na.ts\n#EXTINF:2,\n{seg}\n"),
            )
            .unwrap();
            let e = parse_playlist(&p).unwrap_err();
            assert!(
                e.to_string().contains("outside the playlist's folder"),
                "{seg}: {e}"
            );
            let ok = parse_playlist_with(
                &p,
                PlaylistRules {
                    allow_outside: true,
                },
            )
            .unwrap();
            assert_eq!(ok.len(), 2, "{seg}");
        }
        let p = dir.join("index.m3u8");
        std::fs::write(&p, "#EXTM3U\n#EXTINF:2,\na.ts\n").unwrap();
        assert_eq!(parse_playlist(&p).unwrap().len(), 1);
        // A playlist given as a bare file name (issue 22: its parent was ""
        // and a link out of the folder was accepted).
        assert_eq!(playlist_dir(Path::new("index.m3u8")), Path::new("."));
        assert_eq!(playlist_dir(&p), dir.as_path());
        #[cfg(unix)]
        {
            assert!(!inside(Path::new(""), &dir.join("link.ts")));
            assert!(!inside(&dir, &dir.join("link.ts")));
            std::os::unix::fs::symlink(root.path().join("gone.ts"), dir.join("dangling.ts"))
                .unwrap();
            assert!(!inside(&dir, &dir.join("dangling.ts")), "a dangling link");
            assert!(inside(&dir, &dir.join("not-yet.ts")));
        }
    }
}
