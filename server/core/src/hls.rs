//! HLS as the players most sites ship read it (hls.js, dash.js's HLS
//! cousins, Shaka, video.js, Safari): playlists for a video the cluster
//! stores, and HLS Content Steering, where a server re-ranks the origins
//! ("pathways") every TTL from what it measures.
//!
//! Sources: RFC 8216 (playlists), and the Content Steering addition of its
//! successor draft (draft-pantos-hls-rfc8216bis §4.4.6.6, §7; Apple's
//! "HLS Content Steering Specification" v1.2):
//!
//! - a multivariant playlist carries `#EXT-X-CONTENT-STEERING:SERVER-URI=…,
//!   PATHWAY-ID=…` and its variant streams a `PATHWAY-ID` each; every
//!   pathway lists the same variants from another origin;
//! - the steering manifest is JSON: `VERSION` (1), `TTL` (seconds until the
//!   client reloads it), `RELOAD-URI` (where), `PATHWAY-PRIORITY` (pathway
//!   ids, the most preferred first; never empty);
//! - the client appends `_HLS_pathway` (the pathway it uses now) and
//!   `_HLS_throughput` (its throughput estimate, bit/s) to each reload; a
//!   server answers 429 with `Retry-After` to a client reloading too often
//!   and 410 when it will never steer this session again.
//!
//! Pure text and ranking: the server's `watch` routes feed it the catalog,
//! the URIs and the smart monitor's scores; `vstack steer` feeds it the
//! multivariant playlist of origins it does not serve
//! ([`parse_multivariant`], [`render_steered`]) and its probes' scores.
//! Nothing here reads a clock.

use serde::{Deserialize, Serialize};

/// Longest pathway id accepted (the spec sets no bound; ours: 64 bytes).
pub const MAX_PATHWAY_ID_LEN: usize = 64;

/// Whether `id` is a legal pathway id: 1–[`MAX_PATHWAY_ID_LEN`] characters of
/// `[A-Za-z0-9._-]` (the steering specification's set).
pub fn valid_pathway_id(id: &str) -> bool {
    (1..=MAX_PATHWAY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `#EXT-X-CONTENT-STEERING` of a multivariant playlist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentSteering {
    /// `SERVER-URI`: where the client loads the steering manifest.
    pub server_uri: String,
    /// `PATHWAY-ID`: the pathway to use until the first manifest arrives.
    pub pathway_id: Option<String>,
}

/// One `#EXT-X-STREAM-INF` variant stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantStream {
    /// `BANDWIDTH`, bit/s: the rendition's peak rate (at least 1).
    pub bandwidth_bps: u64,
    /// `CODECS` (RFC 6381 list, e.g. `avc1.64001f`), when known; players
    /// guess without it.
    pub codecs: Option<String>,
    /// `PATHWAY-ID` (None outside content steering).
    pub pathway_id: Option<String>,
    /// The media playlist's URI.
    pub uri: String,
}

/// A multivariant ("master") playlist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MultivariantPlaylist {
    /// Content steering, when the playlist has pathways.
    pub steering: Option<ContentSteering>,
    /// The variant streams, as listed (each pathway's lowest first).
    pub variants: Vec<VariantStream>,
}

impl MultivariantPlaylist {
    /// The playlist's text (RFC 8216 §4.4.6; `#EXT-X-VERSION:7`, the
    /// independent-segments tag since every segment starts on a keyframe).
    pub fn render(&self) -> String {
        let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        if let Some(c) = &self.steering {
            s.push_str(&format!(
                "#EXT-X-CONTENT-STEERING:SERVER-URI=\"{}\"",
                c.server_uri
            ));
            if let Some(p) = &c.pathway_id {
                s.push_str(&format!(",PATHWAY-ID=\"{p}\""));
            }
            s.push('\n');
        }
        for v in &self.variants {
            s.push_str(&format!(
                "#EXT-X-STREAM-INF:BANDWIDTH={}",
                v.bandwidth_bps.max(1)
            ));
            if let Some(c) = &v.codecs {
                s.push_str(&format!(",CODECS=\"{c}\""));
            }
            if let Some(p) = &v.pathway_id {
                s.push_str(&format!(",PATHWAY-ID=\"{p}\""));
            }
            s.push('\n');
            s.push_str(&v.uri);
            s.push('\n');
        }
        s
    }
}

/// Largest playlist text [`parse_multivariant`] and [`first_segment_uri`]
/// read: 1 MiB (a VOD playlist of a few hours is well under it).
pub const MAX_PLAYLIST_BYTES: usize = 1 << 20;
/// Most variant streams [`parse_multivariant`] accepts: 64.
pub const MAX_VARIANTS: usize = 64;

/// Why a playlist from an origin cannot be steered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    /// Over [`MAX_PLAYLIST_BYTES`].
    #[error("playlist over {MAX_PLAYLIST_BYTES} bytes")]
    TooLarge,
    /// The first line is not `#EXTM3U`.
    #[error("not an HLS playlist: the first line must be #EXTM3U")]
    NotHls,
    /// No `#EXT-X-STREAM-INF`: a media playlist, not a multivariant one.
    #[error("a media playlist: steering needs the multivariant playlist")]
    NotMultivariant,
    /// A line the steering server cannot carry over to every pathway.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One `#EXT-X-STREAM-INF` variant of an origin's multivariant playlist,
/// its attributes kept verbatim (less any `PATHWAY-ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginVariant {
    /// The attribute list after `#EXT-X-STREAM-INF:`, without `PATHWAY-ID`.
    pub attributes: String,
    /// Its `BANDWIDTH`, bit/s (at least 1).
    pub bandwidth_bps: u64,
    /// The media playlist's URI as written (relative or absolute).
    pub uri: String,
}

/// An origin's multivariant playlist, read for steering: the
/// session-level tags to keep, and the variants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginMultivariant {
    /// Tags kept verbatim (`#EXT-X-VERSION`, `#EXT-X-INDEPENDENT-SEGMENTS`,
    /// `#EXT-X-START`, …), in order.
    pub tags: Vec<String>,
    /// The variant streams, in the origin's order.
    pub variants: Vec<OriginVariant>,
}

/// Splits an attribute list at the commas outside quoted strings.
fn split_attributes(attrs: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in attrs.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&attrs[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&attrs[start..]);
    out
}

/// A playlist's lines after `#EXTM3U`, trimmed, with their 1-based numbers.
///
/// # Errors
/// [`PlaylistError::TooLarge`] over [`MAX_PLAYLIST_BYTES`];
/// [`PlaylistError::NotHls`] when the first line is not `#EXTM3U`.
fn playlist_lines(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, PlaylistError> {
    if text.len() > MAX_PLAYLIST_BYTES {
        return Err(PlaylistError::TooLarge);
    }
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    if !matches!(lines.next(), Some((_, "#EXTM3U"))) {
        return Err(PlaylistError::NotHls);
    }
    Ok(lines)
}

/// Reads an origin's multivariant playlist for steering (RFC 8216 §4.4.6).
/// Kept: the session-level tags, and each `#EXT-X-STREAM-INF` with its URI
/// (`PATHWAY-ID` dropped: the steering server assigns its own). Dropped: an
/// existing `#EXT-X-CONTENT-STEERING`, `#EXT-X-I-FRAME-STREAM-INF` (trick
/// play; its URI would need a copy per pathway). Comments and blank lines
/// go.
///
/// # Errors
/// [`PlaylistError`]: over [`MAX_PLAYLIST_BYTES`], not `#EXTM3U`, no
/// variant (a media playlist), `#EXT-X-MEDIA` (alternative renditions: not
/// supported, their groups would need a copy per pathway), a variant
/// without a `BANDWIDTH` of at least 1 or without its URI line, a URI
/// without a variant, more than [`MAX_VARIANTS`] variants.
pub fn parse_multivariant(text: &str) -> Result<OriginMultivariant, PlaylistError> {
    let lines = playlist_lines(text)?;
    let err = |line: usize, message: &str| PlaylistError::Line {
        line,
        message: message.into(),
    };
    let mut out = OriginMultivariant::default();
    let mut pending: Option<(usize, String, u64)> = None;
    for (n, line) in lines {
        if line.is_empty() {
            continue;
        }
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let kept: Vec<&str> = split_attributes(attrs)
                .into_iter()
                .map(str::trim)
                .filter(|a| !a.starts_with("PATHWAY-ID="))
                .collect();
            let bandwidth_bps = kept
                .iter()
                .find_map(|a| a.strip_prefix("BANDWIDTH="))
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&b| b > 0)
                .ok_or_else(|| err(n, "#EXT-X-STREAM-INF without a BANDWIDTH of at least 1"))?;
            if pending.is_some() {
                return Err(err(n, "#EXT-X-STREAM-INF without its URI line"));
            }
            pending = Some((n, kept.join(","), bandwidth_bps));
        } else if line.starts_with("#EXT-X-MEDIA:") {
            return Err(err(
                n,
                "#EXT-X-MEDIA: alternative renditions are not supported (mux audio into the variants)",
            ));
        } else if line.starts_with("#EXT-X-CONTENT-STEERING")
            || line.starts_with("#EXT-X-I-FRAME-STREAM-INF")
        {
            continue;
        } else if line.starts_with("#EXT") {
            out.tags.push(line.to_string());
        } else if line.starts_with('#') {
            continue;
        } else if let Some((_, attributes, bandwidth_bps)) = pending.take() {
            if out.variants.len() >= MAX_VARIANTS {
                return Err(err(n, "more than 64 variant streams"));
            }
            out.variants.push(OriginVariant {
                attributes,
                bandwidth_bps,
                uri: line.to_string(),
            });
        } else {
            return Err(err(n, "a URI without a preceding #EXT-X-STREAM-INF"));
        }
    }
    if let Some((n, ..)) = pending {
        return Err(err(n, "#EXT-X-STREAM-INF without its URI line"));
    }
    if out.variants.is_empty() {
        return Err(PlaylistError::NotMultivariant);
    }
    Ok(out)
}

/// The steered multivariant playlist: the origin's tags, then
/// `#EXT-X-CONTENT-STEERING`, then every variant once per pathway, with
/// that pathway's `PATHWAY-ID` and its URI. `pathways` is `(pathway id, one
/// URI per variant of `origin`, in its order)`; a pathway with the wrong
/// number of URIs is left out.
pub fn render_steered(
    origin: &OriginMultivariant,
    steering: &ContentSteering,
    pathways: &[(String, Vec<String>)],
) -> String {
    let mut s = String::from("#EXTM3U\n");
    for t in &origin.tags {
        s.push_str(t);
        s.push('\n');
    }
    s.push_str(&format!(
        "#EXT-X-CONTENT-STEERING:SERVER-URI=\"{}\"",
        steering.server_uri
    ));
    if let Some(p) = &steering.pathway_id {
        s.push_str(&format!(",PATHWAY-ID=\"{p}\""));
    }
    s.push('\n');
    for (id, uris) in pathways {
        if uris.len() != origin.variants.len() {
            continue;
        }
        for (v, uri) in origin.variants.iter().zip(uris) {
            s.push_str(&format!(
                "#EXT-X-STREAM-INF:{},PATHWAY-ID=\"{id}\"\n{uri}\n",
                v.attributes
            ));
        }
    }
    s
}

/// The first media segment's URI of a media playlist (what a steering
/// server probes an origin with: an fMP4 initialization segment, about a
/// kilobyte, is too small to time a transfer, so `#EXT-X-MAP` is skipped).
///
/// # Errors
/// [`PlaylistError`]: too large, not `#EXTM3U`, a multivariant playlist
/// (a `Line` error naming its first variant), or no segment.
pub fn first_segment_uri(text: &str) -> Result<String, PlaylistError> {
    let lines = playlist_lines(text)?;
    for (n, line) in lines {
        if line.starts_with("#EXT-X-STREAM-INF") {
            return Err(PlaylistError::Line {
                line: n,
                message: "a multivariant playlist where a media playlist was expected".into(),
            });
        } else if !line.is_empty() && !line.starts_with('#') {
            return Ok(line.to_string());
        }
    }
    Err(PlaylistError::Line {
        line: 1,
        message: "no media segment".into(),
    })
}

/// One media segment of a [`MediaPlaylist`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSegment {
    /// Media duration, ms (`#EXTINF`).
    pub duration_ms: u64,
    /// The segment's URI.
    pub uri: String,
}

/// A video-on-demand media playlist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaPlaylist {
    /// `#EXT-X-MAP` URI: the fMP4 initialization segment, when there is one.
    pub map_uri: Option<String>,
    /// The media segments in playback order.
    pub segments: Vec<MediaSegment>,
}

impl MediaPlaylist {
    /// The playlist's text: VOD, `#EXT-X-TARGETDURATION` the longest segment
    /// rounded up to whole seconds (RFC 8216 §4.3.3.1), `#EXT-X-ENDLIST`.
    pub fn render(&self) -> String {
        let target_s = self
            .segments
            .iter()
            .map(|g| g.duration_ms.div_ceil(1000))
            .max()
            .unwrap_or(1)
            .max(1);
        let mut s = format!(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target_s}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        );
        if let Some(m) = &self.map_uri {
            s.push_str(&format!("#EXT-X-MAP:URI=\"{m}\"\n"));
        }
        for g in &self.segments {
            s.push_str(&format!(
                "#EXTINF:{}.{:03},\n{}\n",
                g.duration_ms / 1000,
                g.duration_ms % 1000,
                g.uri
            ));
        }
        s.push_str("#EXT-X-ENDLIST\n");
        s
    }
}

/// The steering manifest (JSON, the spec's own key names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SteeringManifest {
    /// Always 1.
    #[serde(rename = "VERSION")]
    pub version: u32,
    /// Seconds until the client reloads the manifest.
    #[serde(rename = "TTL")]
    pub ttl_s: u64,
    /// Where the client reloads it (it appends `_HLS_pathway` and
    /// `_HLS_throughput` itself).
    #[serde(rename = "RELOAD-URI", skip_serializing_if = "Option::is_none")]
    pub reload_uri: Option<String>,
    /// Pathway ids, the most preferred first; never empty.
    #[serde(rename = "PATHWAY-PRIORITY")]
    pub pathway_priority: Vec<String>,
}

/// One pathway (one origin node) as the steering server measures it.
#[derive(Clone, Debug, PartialEq)]
pub struct PathwayScore {
    /// Its pathway id (a node id, e.g. `node-1`).
    pub pathway_id: String,
    /// The smart monitor's node score (seed 002: `(bandwidth_mbps ×
    /// reliability) / (1 + latency_ms × 0.1)`); higher is better.
    pub score: f64,
    /// False for a node known down (killed, or three failed samples in a
    /// row): never ranked ahead of a usable one.
    pub usable: bool,
}

/// How the steering server ranks pathways; every default stated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteeringPolicy {
    /// A client stays on its pathway (`_HLS_pathway`) unless another usable
    /// one scores this many times more: two origins within measurement noise
    /// must not swap players every TTL. Default 1.25.
    pub stickiness: f64,
    /// A client reporting less throughput than this (`_HLS_throughput`,
    /// bit/s) on its pathway is starving there: it is moved to the best
    /// pathway whatever the stickiness. Default 0: the caller sets the
    /// lowest rung's `BANDWIDTH`.
    pub starving_below_bps: u64,
}

impl Default for SteeringPolicy {
    fn default() -> Self {
        Self {
            stickiness: 1.25,
            starving_below_bps: 0,
        }
    }
}

/// What the client said in its reload (`_HLS_pathway`, `_HLS_throughput`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SteeringRequest {
    /// The pathway the client uses now.
    pub pathway: Option<String>,
    /// Its throughput estimate, bit/s.
    pub throughput_bps: Option<u64>,
}

/// `PATHWAY-PRIORITY` from the scores: usable pathways by score, the best
/// first (ties in the given order), then the unusable ones by score (a
/// client keeps them as the last resort; the list is never empty unless
/// `scores` is). The client's current pathway stays first while it is
/// usable, not starving and within [`SteeringPolicy::stickiness`] of the
/// best.
pub fn rank_pathways(
    scores: &[PathwayScore],
    request: &SteeringRequest,
    policy: &SteeringPolicy,
) -> Vec<String> {
    let mut order: Vec<&PathwayScore> = scores.iter().collect();
    // A stable sort: ties keep the caller's order.
    order.sort_by(|a, b| b.usable.cmp(&a.usable).then(b.score.total_cmp(&a.score)));
    let best = order.first().filter(|p| p.usable).map(|p| p.score);
    let starving = request
        .throughput_bps
        .is_some_and(|t| t < policy.starving_below_bps);
    if let (Some(best), Some(current), false) = (best, request.pathway.as_deref(), starving)
        && let Some(i) = order
            .iter()
            .position(|p| p.usable && p.pathway_id == current)
        && order[i].score * policy.stickiness.max(1.0) >= best
    {
        let p = order.remove(i);
        order.insert(0, p);
    }
    order.into_iter().map(|p| p.pathway_id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, score: f64, usable: bool) -> PathwayScore {
        PathwayScore {
            pathway_id: id.into(),
            score,
            usable,
        }
    }

    fn req(pathway: Option<&str>, throughput_bps: Option<u64>) -> SteeringRequest {
        SteeringRequest {
            pathway: pathway.map(str::to_string),
            throughput_bps,
        }
    }

    #[test]
    fn an_origin_multivariant_is_steered_over_every_pathway() {
        let text = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n# a comment\n\
            #EXT-X-CONTENT-STEERING:SERVER-URI=\"old\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\",PATHWAY-ID=\"x\"\nlow/index.m3u8\n\
            #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI=\"low/iframe.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2400000\nhttps://cdn.example/high/index.m3u8\n";
        let m = parse_multivariant(text).unwrap();
        assert_eq!(m.tags, ["#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]);
        assert_eq!(m.variants.len(), 2);
        assert_eq!(
            m.variants[0].attributes,
            "BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\""
        );
        assert_eq!(m.variants[1].bandwidth_bps, 2_400_000);
        let steering = ContentSteering {
            server_uri: "steering".into(),
            pathway_id: Some("b".into()),
        };
        let out = render_steered(
            &m,
            &steering,
            &[
                (
                    "a".into(),
                    vec!["https://a/low".into(), "https://a/high".into()],
                ),
                (
                    "b".into(),
                    vec!["https://b/low".into(), "https://b/high".into()],
                ),
                ("short".into(), vec!["https://c/low".into()]),
            ],
        );
        assert!(out.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-CONTENT-STEERING:SERVER-URI=\"steering\",PATHWAY-ID=\"b\"\n"), "{out}");
        assert_eq!(out.matches("#EXT-X-STREAM-INF").count(), 4, "{out}");
        assert!(
            out.contains("CODECS=\"avc1.4d401e,mp4a.40.2\",PATHWAY-ID=\"a\"\nhttps://a/low\n"),
            "{out}"
        );
        assert!(
            out.contains("BANDWIDTH=2400000,PATHWAY-ID=\"b\"\nhttps://b/high\n"),
            "{out}"
        );
        assert!(
            !out.contains("https://c/") && !out.contains("old") && !out.contains("iframe"),
            "{out}"
        );
    }

    #[test]
    fn playlists_a_steering_server_cannot_carry_are_refused() {
        assert_eq!(parse_multivariant("hello"), Err(PlaylistError::NotHls));
        assert_eq!(
            parse_multivariant("#EXTM3U\n#EXTINF:4,\nseg0.ts\n"),
            Err(PlaylistError::Line {
                line: 3,
                message: "a URI without a preceding #EXT-X-STREAM-INF".into()
            })
        );
        assert_eq!(
            parse_multivariant("#EXTM3U\n#EXT-X-VERSION:3\n"),
            Err(PlaylistError::NotMultivariant)
        );
        for bad in [
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"a.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=0\nv.m3u8\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\n",
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5\n#EXT-X-STREAM-INF:BANDWIDTH=6\nv.m3u8\n",
        ] {
            assert!(
                matches!(parse_multivariant(bad), Err(PlaylistError::Line { .. })),
                "{bad}"
            );
        }
        let many: String = std::iter::once("#EXTM3U\n".to_string())
            .chain((0..65).map(|i| format!("#EXT-X-STREAM-INF:BANDWIDTH={}\nv{i}.m3u8\n", i + 1)))
            .collect();
        assert!(matches!(
            parse_multivariant(&many),
            Err(PlaylistError::Line { .. })
        ));
        let huge = format!("#EXTM3U\n{}", "#".repeat(MAX_PLAYLIST_BYTES));
        assert_eq!(parse_multivariant(&huge), Err(PlaylistError::TooLarge));
    }

    #[test]
    fn the_first_segment_uri_skips_the_initialization_segment() {
        let fmp4 =
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4,\nseg0.m4s\n";
        assert_eq!(first_segment_uri(fmp4).unwrap(), "seg0.m4s");
        assert_eq!(
            first_segment_uri("#EXTM3U\n#EXTINF:4,\n\nseg0.ts\n").unwrap(),
            "seg0.ts"
        );
        assert!(first_segment_uri("#EXTM3U\n#EXT-X-ENDLIST\n").is_err());
        assert!(first_segment_uri("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n").is_err());
        assert_eq!(first_segment_uri("nope"), Err(PlaylistError::NotHls));
    }

    #[test]
    fn pathways_rank_by_score_with_the_down_ones_last() {
        let scores = [
            p("node-1", 3.0, false),
            p("node-2", 1.0, true),
            p("node-3", 2.0, true),
        ];
        assert_eq!(
            rank_pathways(&scores, &req(None, None), &SteeringPolicy::default()),
            ["node-3", "node-2", "node-1"]
        );
        // Every pathway down: still a list, by score.
        let down = [p("a", 1.0, false), p("b", 2.0, false)];
        assert_eq!(
            rank_pathways(&down, &req(Some("a"), None), &SteeringPolicy::default()),
            ["b", "a"]
        );
        assert!(rank_pathways(&[], &req(None, None), &SteeringPolicy::default()).is_empty());
    }

    #[test]
    fn a_client_stays_on_a_pathway_within_the_stickiness() {
        let policy = SteeringPolicy {
            stickiness: 1.25,
            starving_below_bps: 500_000,
        };
        let scores = [
            p("node-1", 10.0, true),
            p("node-2", 9.0, true),
            p("node-3", 7.0, true),
        ];
        // 9 × 1.25 ≥ 10: stays.
        assert_eq!(
            rank_pathways(&scores, &req(Some("node-2"), Some(2_000_000)), &policy),
            ["node-2", "node-1", "node-3"]
        );
        // 7 × 1.25 < 10: moved.
        assert_eq!(
            rank_pathways(&scores, &req(Some("node-3"), None), &policy),
            ["node-1", "node-2", "node-3"]
        );
        // Starving on node-2: moved whatever the stickiness.
        assert_eq!(
            rank_pathways(&scores, &req(Some("node-2"), Some(400_000)), &policy),
            ["node-1", "node-2", "node-3"]
        );
        // A down pathway is never kept first.
        let killed = [p("node-1", 10.0, false), p("node-2", 1.0, true)];
        assert_eq!(
            rank_pathways(&killed, &req(Some("node-1"), None), &policy),
            ["node-2", "node-1"]
        );
        // An unknown current pathway changes nothing.
        assert_eq!(
            rank_pathways(&scores, &req(Some("node-9"), None), &policy),
            ["node-1", "node-2", "node-3"]
        );
    }

    #[test]
    fn pathway_ids_follow_the_specification() {
        assert!(valid_pathway_id("node-1"));
        assert!(valid_pathway_id("CDN_A.eu"));
        assert!(!valid_pathway_id(""));
        assert!(!valid_pathway_id("a b"));
        assert!(!valid_pathway_id("a\"b"));
        assert!(!valid_pathway_id(&"x".repeat(65)));
    }

    #[test]
    fn playlists_render_as_the_rfc_writes_them() {
        let m = MultivariantPlaylist {
            steering: Some(ContentSteering {
                server_uri: "/steer?v=1".into(),
                pathway_id: Some("node-1".into()),
            }),
            variants: vec![
                VariantStream {
                    bandwidth_bps: 1_000_000,
                    codecs: Some("avc1.64001f".into()),
                    pathway_id: Some("node-1".into()),
                    uri: "n0/r0.m3u8".into(),
                },
                VariantStream {
                    bandwidth_bps: 0,
                    codecs: None,
                    pathway_id: None,
                    uri: "x.m3u8".into(),
                },
            ],
        };
        assert_eq!(
            m.render(),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-CONTENT-STEERING:SERVER-URI=\"/steer?v=1\",PATHWAY-ID=\"node-1\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS=\"avc1.64001f\",PATHWAY-ID=\"node-1\"\nn0/r0.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\nx.m3u8\n"
        );
        let media = MediaPlaylist {
            map_uri: Some("init".into()),
            segments: vec![
                MediaSegment {
                    duration_ms: 10_000,
                    uri: "s1".into(),
                },
                MediaSegment {
                    duration_ms: 4_250,
                    uri: "s2".into(),
                },
            ],
        };
        assert_eq!(
            media.render(),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init\"\n\
             #EXTINF:10.000,\ns1\n#EXTINF:4.250,\ns2\n#EXT-X-ENDLIST\n"
        );
        let json = serde_json::to_value(SteeringManifest {
            version: 1,
            ttl_s: 5,
            reload_uri: Some("/steer".into()),
            pathway_priority: vec!["node-2".into()],
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"VERSION": 1, "TTL": 5, "RELOAD-URI": "/steer", "PATHWAY-PRIORITY": ["node-2"]})
        );
    }
}
