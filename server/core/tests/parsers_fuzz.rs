//! The file parsers of the simulator (traces in all three formats, Sabre
//! video manifests, chunk-size files) on arbitrary input: an error or a
//! value, never a panic.

use std::time::Duration;

use proptest::prelude::*;
use vstack_core::{
    abr::AbrKind,
    input::{Ladder, Period, Trace, VideoSource, load_chunks},
    sim::sabre::{self, SabreConfig},
};

/// Text that looks like the formats often enough to reach deep into them:
/// numbers (huge, tiny, negative, non-finite), separators and JSON pieces.
fn texts() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        any::<f64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| v.to_string()),
        Just("1e300".to_string()),
        Just("-1".to_string()),
        Just("NaN".to_string()),
        Just(" ".to_string()),
        Just("\n".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(",".to_string()),
        Just("\"duration_ms\":".to_string()),
        Just("\"bandwidth_kbps\":".to_string()),
        Just("\"latency_ms\":".to_string()),
        Just("\"segment_duration_ms\":".to_string()),
        Just("\"bitrates_kbps\":".to_string()),
        Just("\"segment_sizes_bits\":".to_string()),
        "[ -~]{0,8}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn trace_parsers_never_panic(text in texts(), json in any::<bool>()) {
        let name = if json { "t.json" } else { "t.txt" };
        if let Ok(t) = Trace::parse(name, &text) {
            prop_assert!(t.length_s() > 0.0 && t.length_s().is_finite());
            let _ = t.at(t.length_s() * 1.5);
        }
    }

    #[test]
    fn video_parsers_never_panic(text in texts(), level in 0usize..3) {
        let chunk = Duration::from_secs(10);
        let _ = load_chunks(
            &VideoSource::Sabre { origin: "v.json".into(), text: text.clone(), level },
            chunk,
        );
        let _ = load_chunks(
            &VideoSource::SizeFile { origin: "sizes".into(), text, segment: Duration::from_secs(4) },
            chunk,
        );
    }

    #[test]
    fn well_formed_sabre_traces_with_any_numbers_never_panic(
        periods in prop::collection::vec((any::<f64>(), any::<f64>(), any::<f64>()), 1..20),
    ) {
        let text = format!(
            "[{}]",
            periods
                .iter()
                .map(|(d, b, l)| format!(
                    r#"{{"duration_ms": {d:e}, "bandwidth_kbps": {b:e}, "latency_ms": {l:e}}}"#
                ))
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = Trace::parse("p.json", &text);
    }

    /// A ladder with any numbers parses or is refused; one that parses
    /// plays in Sabre's model over a trace with any bandwidth (down to
    /// almost none) to a report or an error, never a panic or a hang.
    #[test]
    fn any_ladder_on_any_trace_ends(
        segment_ms in prop_oneof![any::<f64>(), 1.0f64..20_000.0],
        rates in prop::collection::vec(prop_oneof![any::<f64>(), 1.0f64..1e5], 1..5),
        sizes in prop::collection::vec(prop_oneof![any::<f64>(), 1.0f64..1e9], 1..12),
        bandwidth_kbps in prop_oneof![Just(0.0f64), 1e-9f64..1e-3, 1e-3f64..1e6],
        latency_ms in 0.0f64..5_000.0,
        rule in 0usize..6,
    ) {
        let text = format!(
            r#"{{"segment_duration_ms": {segment_ms:e}, "bitrates_kbps": [{}], "segment_sizes_bits": [{}]}}"#,
            rates.iter().map(|r| format!("{r:e}")).collect::<Vec<_>>().join(","),
            sizes
                .iter()
                .map(|s| format!("[{}]", vec![format!("{s:e}"); rates.len()].join(",")))
                .collect::<Vec<_>>()
                .join(",")
        );
        let Ok(ladder) = Ladder::parse_sabre("l.json", &text) else {
            return Ok(());
        };
        let trace = Trace::new(
            "t",
            vec![Period {
                duration: Duration::from_secs(1),
                bandwidth_mbps: bandwidth_kbps / 1e3,
                rtt_ms: latency_ms,
            }],
        )
        .unwrap();
        let config = SabreConfig {
            time_limit_ms: 3_600_000.0,
            ..SabreConfig::default()
        };
        if let Ok(r) = sabre::run(&trace, &ladder, AbrKind::ALL[rule], &config) {
            prop_assert_eq!(r.levels.len(), ladder.segments());
        }
    }
}
