//! Every input the servers parse, on arbitrary bytes: HLS playlists (with the
//! folder containment rule), the JSON bodies of the cluster and the
//! dashboard (wire types), and manifests with arbitrary numbers through the
//! metadata service's checks. An error or a value, never a panic; a refused
//! manifest is a 4xx.

use proptest::prelude::*;
use vstack::cluster::{
    ingest::{PlaylistRules, parse_playlist_with},
    metadata::{MetadataConfig, MetadataService},
    wire::{ChunkEntry, NodeHeartbeat, RegisterNode, VideoManifest},
};

/// Text that looks like a playlist often enough to reach deep into it.
fn playlists() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("#EXTM3U\n".to_string()),
        Just("#EXTINF:".to_string()),
        Just("#EXT-X-ENDLIST\n".to_string()),
        Just("#EXT-X-MAP:URI=\"init.mp4\"\n".to_string()),
        Just("#EXT-X-BYTERANGE:100@0\n".to_string()),
        Just(",\n".to_string()),
        Just("\n".to_string()),
        Just("../".to_string()),
        Just("/etc/passwd\n".to_string()),
        Just("seg.ts\n".to_string()),
        Just("http://x/y.ts\n".to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        Just("1e300".to_string()),
        Just("NaN".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(token, 0..30).prop_map(|v| v.concat())
}

/// JSON-ish text: keys of the wire types, numbers at their edges.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"control\"".to_string()),
        Just("\"action\"".to_string()),
        Just("\"node_conditions\"".to_string()),
        Just("\"kill_node\"".to_string()),
        Just("\"node\"".to_string()),
        Just("\"bandwidth_mbps\"".to_string()),
        Just("\"latency_ms\"".to_string()),
        Just("\"loss\"".to_string()),
        Just("\"video_id\"".to_string()),
        Just("\"chunks\"".to_string()),
        Just("\"type\"".to_string()),
        Just("\"prepare\"".to_string()),
        Just("\"ballot\"".to_string()),
        Just("\"round\"".to_string()),
        Just("\"scenario\"".to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        Just("1e308".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        "\"[ -~]{0,8}\"",
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

fn decode_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<vstack_core::wire::Control>(bytes);
    let _ = serde_json::from_slice::<VideoManifest>(bytes);
    let _ = serde_json::from_slice::<RegisterNode>(bytes);
    let _ = serde_json::from_slice::<NodeHeartbeat>(bytes);
    let _ = serde_json::from_slice::<
        vstack_core::consensus::paxos::Message<vstack_core::consensus::ChunkRecord>,
    >(bytes);
    let _ = serde_json::from_slice::<vstack_core::conditions::Conditions>(bytes);
    if let Ok(c) = serde_json::from_slice::<vstack_core::conditions::Conditions>(bytes) {
        let _ = c.validate();
    }
}

fn chunk() -> impl Strategy<Value = ChunkEntry> {
    (
        any::<u32>(),
        "[a-z0-9.-]{0,12}",
        any::<u64>(),
        any::<u64>(),
        "[0-9a-f]{0,70}",
        prop::collection::vec(prop_oneof![Just("n1".to_string()), "[a-z0-9]{0,4}"], 0..4),
    )
        .prop_map(
            |(index, chunk_id, duration_ms, size_bytes, sha256, replicas)| ChunkEntry {
                index,
                chunk_id,
                duration_ms,
                size_bytes,
                sha256,
                replicas,
                revision: 1,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn playlists_never_panic(text in playlists(), outside in any::<bool>()) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("seg.ts"), b"x").unwrap();
        let p = d.path().join("index.m3u8");
        std::fs::write(&p, &text).unwrap();
        if let Ok(segments) = parse_playlist_with(&p, PlaylistRules { allow_outside: outside }) {
            prop_assert!(!segments.is_empty());
            if !outside {
                for s in &segments {
                    prop_assert!(s.path.starts_with(d.path()), "{:?}", s.path);
                    prop_assert!(!s.path.components().any(|c| c == std::path::Component::ParentDir), "{:?}", s.path);
                }
            }
        }
    }

    #[test]
    fn json_bodies_never_panic(text in jsonish(), bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all(text.as_bytes());
        decode_all(&bytes);
    }

    #[test]
    fn manifests_with_any_numbers_are_refused_or_kept(
        video_id in "[a-z0-9.-]{0,10}",
        version in any::<u64>(),
        chunks in prop::collection::vec(chunk(), 0..6),
    ) {
        let s = MetadataService::new(MetadataConfig::default());
        s.register(&RegisterNode { node_id: "n1".into(), url: "http://127.0.0.1:1".into() }).unwrap();
        let m = VideoManifest { video_id, version, chunks, ladder: Vec::new() };
        let _ = (m.duration_ms(), m.size_bytes());
        if let Err(e) = s.put_video(m) {
            prop_assert!(e.status.is_client_error() || e.status.as_u16() == 507, "{e}");
        }
    }
}
