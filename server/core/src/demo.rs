//! The seed's demonstration (001, "Demonstration Scenarios") as data: the
//! phases in order with what to watch in each ([`PHASES`]), a client's
//! figures over a phase measured as differences of its counters
//! ([`figures`]), and the key findings drawn from them ([`findings`]). The
//! server runs the phases on live clusters; everything it reports is computed
//! here from what the clients published.

use serde::{Deserialize, Serialize};

use crate::{conditions::Scenario, engine::ClientSnapshot};

/// A phase of the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// One scenario on every node.
    Scenario(Scenario),
    /// Seeded random failures.
    Chaos,
    /// A node lost for good while adaptive redundancy repairs (seeds
    /// `000_*`/`001_*`: "dynamic replication strategies").
    Redundancy,
}

/// The demo's phases and the conditions each applies. The text states only
/// what is done to the nodes; what the clients made of it is measured at the
/// phase's end ([`narrate`]), never written in advance.
pub const PHASES: [(Phase, &str); 8] = [
    (
        Phase::Scenario(Scenario::Normal),
        "Normal operation: every node on its own base profile.",
    ),
    (
        Phase::Scenario(Scenario::HighLatency),
        "Degradation 1, latency: +200 ms ± 50 ms on every node.",
    ),
    (
        Phase::Scenario(Scenario::LowBandwidth),
        "Degradation 2, bandwidth: every node capped at 3 Mbit/s.",
    ),
    (
        Phase::Scenario(Scenario::PacketLoss),
        "Degradation 3, loss: 10 % of transfers are cut on every node.",
    ),
    (
        Phase::Scenario(Scenario::NodeFailure),
        "Node failure: node-1 is down (connections refused).",
    ),
    (
        Phase::Scenario(Scenario::Recovery),
        "Recovery: every node back on its base profile.",
    ),
    (
        Phase::Chaos,
        "Chaos: every 5 s one random failure (a node killed and revived, a latency spike, loss), the same seeded sequence on both clusters.",
    ),
    (
        Phase::Redundancy,
        "Adaptive redundancy: node-3 fails for good (server killed, heartbeats stop) on both clusters; the replication manager may repair its chunks onto the other nodes once its grace period passes; node-3 returns at the phase's end.",
    ),
];

/// One client's figures over one demo phase: differences of its counters
/// across the phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Chunks downloaded in the phase.
    pub chunks: u64,
    /// Rebuffering events in the phase: those that started in it, plus one
    /// already under way when it began that went on stalling in it (each
    /// phase counts what happened in it, events and time alike).
    pub rebuffers: u32,
    /// Stall time in the phase, ms.
    pub stall_ms: f64,
    /// Failovers in the phase.
    pub failovers: u64,
    /// Bytes in the phase × 8 / phase length (media time), Mbit/s.
    pub goodput_mbps: f64,
    /// Buffer level at the phase's end, s.
    pub buffer_end_s: f64,
    /// Chunks per node in the phase (each chunk counted once, on the node
    /// that delivered most of its bytes), in the order of `node_ids`.
    pub per_node: Vec<u64>,
    /// Bytes each node delivered in the phase (every part of a split chunk
    /// counted on its own node), in the order of `node_ids`.
    #[serde(default)]
    pub per_node_bytes: Vec<u64>,
    /// The nodes' ids (`node-1`, …).
    #[serde(default)]
    pub node_ids: Vec<String>,
}

/// One phase's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PhaseResult {
    /// Name.
    pub phase: String,
    /// Smart client.
    pub smart: PhaseFigures,
    /// Naive client.
    pub naive: PhaseFigures,
}

/// The phase's name (`normal`, …, `chaos`).
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Scenario(s) => s.name(),
        Phase::Chaos => "chaos",
        Phase::Redundancy => "adaptive_redundancy",
    }
}

/// A client's figures over a phase of `phase_media_s` media seconds: the
/// differences of its counters between `before` and `after` (snapshots of
/// one session).
pub fn figures(
    before: &ClientSnapshot,
    after: &ClientSnapshot,
    phase_media_s: f64,
) -> PhaseFigures {
    let (a, b) = (before, after);
    let stall_ms = (b.rebuffer_time_ms - a.rebuffer_time_ms).max(0.0);
    let carried_over = a.state == crate::engine::PlaybackState::Rebuffering
        && b.rebuffer_count == a.rebuffer_count
        && stall_ms > 0.0;
    PhaseFigures {
        chunks: b.downloads.saturating_sub(a.downloads),
        rebuffers: b.rebuffer_count.saturating_sub(a.rebuffer_count) + u32::from(carried_over),
        stall_ms,
        failovers: b.failovers.saturating_sub(a.failovers),
        goodput_mbps: b.bytes_total.saturating_sub(a.bytes_total) as f64 * 8.0
            / phase_media_s
            / 1e6,
        buffer_end_s: after.buffer_level_s,
        per_node: b
            .nodes
            .iter()
            .zip(&a.nodes)
            .map(|(y, x)| y.chunks.saturating_sub(x.chunks))
            .collect(),
        per_node_bytes: b
            .nodes
            .iter()
            .zip(&a.nodes)
            .map(|(y, x)| y.bytes.saturating_sub(x.bytes))
            .collect(),
        node_ids: b.nodes.iter().map(|n| n.node_id.clone()).collect(),
    }
}

/// The counters of `s` at its session's start: what a phase that saw the
/// session begin counts from.
pub fn session_start(s: &ClientSnapshot) -> ClientSnapshot {
    let mut z = s.clone();
    z.downloads = 0;
    z.rebuffer_count = 0;
    z.rebuffer_time_ms = 0.0;
    z.failovers = 0;
    z.bytes_total = 0;
    for n in &mut z.nodes {
        n.chunks = 0;
        n.bytes = 0;
    }
    z
}

/// A client's figures over a phase from its snapshots at the phase's start
/// and end: when a new session began during the phase, counted from that
/// session's start; zeros without an end snapshot.
pub fn phase_figures(
    before: Option<&ClientSnapshot>,
    after: Option<&ClientSnapshot>,
    phase_media_s: f64,
) -> PhaseFigures {
    match (before, after) {
        (Some(b), Some(a)) if b.session == a.session => figures(b, a, phase_media_s),
        (_, Some(a)) => figures(&session_start(a), a, phase_media_s),
        _ => PhaseFigures::default(),
    }
}

/// Stall-time gaps smaller than this are ties, ms: they print as 0.0 s at
/// the 0.1 s precision the findings use.
pub const STALL_TIE_MS: f64 = 50.0;

/// Smart's stall time minus naive's in a phase, ms: negative when smart
/// stalled less; 0 for a gap under [`STALL_TIE_MS`].
fn stall_gap_ms(r: &PhaseResult) -> f64 {
    let d = r.smart.stall_ms - r.naive.stall_ms;
    if d.abs() < STALL_TIE_MS { 0.0 } else { d }
}

/// One client's phase in a sentence, every figure measured: chunks, the
/// node that delivered the largest share of bytes and that share,
/// rebuffers, stall time and failovers.
fn narrate_client(name: &str, f: &PhaseFigures) -> String {
    let total: u64 = f.per_node_bytes.iter().sum();
    let top = f
        .per_node_bytes
        .iter()
        .enumerate()
        .max_by_key(|(i, b)| (**b, std::cmp::Reverse(*i)))
        .filter(|_| total > 0)
        .map(|(i, b)| {
            let id = f
                .node_ids
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("node-{}", i + 1));
            format!(
                ", {id} delivered {:.0} % of the bytes",
                *b as f64 * 100.0 / total as f64
            )
        })
        .unwrap_or_default();
    format!(
        "{name} fetched {} chunks{top}, {} rebuffers ({:.1} s stalled), {} failovers",
        f.chunks,
        f.rebuffers,
        f.stall_ms / 1e3,
        f.failovers
    )
}

/// What happened in a phase, measured: each client's sentence
/// ([`PhaseFigures`]) and which one stalled less.
pub fn narrate(r: &PhaseResult) -> String {
    let d = stall_gap_ms(r);
    let verdict = if d < 0.0 {
        format!("smart stalled {:.1} s less", -d / 1e3)
    } else if d > 0.0 {
        format!("smart stalled {:.1} s more", d / 1e3)
    } else if r.smart.stall_ms < STALL_TIE_MS && r.naive.stall_ms < STALL_TIE_MS {
        "neither stalled".into()
    } else {
        "both stalled alike".into()
    };
    format!(
        "{}; {}; {verdict}.",
        narrate_client("smart", &r.smart),
        narrate_client("naive", &r.naive)
    )
}

/// Key findings over the phases, one sentence each, from the measured figures.
pub fn findings(results: &[PhaseResult]) -> Vec<String> {
    let mut out = Vec::new();
    if results.is_empty() {
        return out;
    }
    let sum = |f: fn(&PhaseFigures) -> f64, smart: bool| -> f64 {
        results
            .iter()
            .map(|r| f(if smart { &r.smart } else { &r.naive }))
            .sum()
    };
    let (sr, nr) = (
        sum(|f| f64::from(f.rebuffers), true),
        sum(|f| f64::from(f.rebuffers), false),
    );
    let (ss, ns) = (sum(|f| f.stall_ms, true), sum(|f| f.stall_ms, false));
    let (sf, nf) = (
        sum(|f| f.failovers as f64, true),
        sum(|f| f.failovers as f64, false),
    );
    let (sg, ng) = (
        sum(|f| f.goodput_mbps, true),
        sum(|f| f.goodput_mbps, false),
    );
    out.push(format!(
        "rebuffering: smart {sr:.0} events / {:.1} s stalled, naive {nr:.0} events / {:.1} s stalled",
        ss / 1e3,
        ns / 1e3
    ));
    out.push(format!("failovers: smart {sf:.0}, naive {nf:.0}"));
    out.push(format!(
        "mean goodput over the phases: smart {:.1} Mbit/s, naive {:.1} Mbit/s",
        sg / results.len() as f64,
        ng / results.len() as f64
    ));
    if let Some(gap) = results
        .iter()
        .max_by(|x, y| stall_gap_ms(x).abs().total_cmp(&stall_gap_ms(y).abs()))
    {
        let d = stall_gap_ms(gap);
        out.push(if d == 0.0 {
            "no phase separated the clients on stall time".into()
        } else {
            format!(
                "the largest stall gap was in {}: smart stalled {:.1} s, naive {:.1} s ({} by {:.1} s)",
                gap.phase,
                gap.smart.stall_ms / 1e3,
                gap.naive.stall_ms / 1e3,
                if d < 0.0 { "smart better" } else { "smart worse" },
                d.abs() / 1e3
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ClientKind, PlaybackState};

    fn snap(session: u32, downloads: u64, bytes_total: u64) -> ClientSnapshot {
        ClientSnapshot {
            kind: ClientKind::Smart,
            video_id: "v".into(),
            state: PlaybackState::Playing,
            session,
            elapsed_ms: 0.0,
            buffer_level_s: 12.0,
            buffer_target_s: 30.0,
            low_water_mark_s: 15.0,
            playhead_s: 0.0,
            video_duration_s: 600.0,
            startup_latency_ms: None,
            rebuffer_count: 0,
            rebuffer_time_ms: 0.0,
            chunks_played: 0,
            chunk_count: 60,
            downloads,
            failovers: 0,
            success_rate: 1.0,
            bytes_total,
            avg_throughput_mbps: 0.0,
            goodput_mbps: 0.0,
            avg_download_ms: 0.0,
            avg_buffer_s: 0.0,
            nodes: Vec::new(),
            recent_chunks: Vec::new(),
            bitrates_kbps: Vec::new(),
            level: None,
            bitrate_kbps: None,
            quality: None,
        }
    }

    #[test]
    fn a_phase_counts_from_the_session_it_saw_begin() {
        let f = phase_figures(
            Some(&snap(1, 3, 1_000_000)),
            Some(&snap(1, 5, 4_750_000)),
            30.0,
        );
        assert_eq!(f.chunks, 2);
        assert!((f.goodput_mbps - 1.0).abs() < 1e-12, "3.75 MB in 30 s");
        let f = phase_figures(Some(&snap(1, 50, 9)), Some(&snap(2, 4, 3_750_000)), 30.0);
        assert_eq!(f.chunks, 4, "new session: from its start");
        assert_eq!(f.buffer_end_s, 12.0);
        assert_eq!(phase_figures(None, None, 30.0), PhaseFigures::default());
    }

    #[test]
    fn a_stall_carried_into_a_phase_is_one_of_its_events() {
        // `vstack demo --seed 7` printed "naive: 0 rebuffers (4.0 s stalled)"
        // for packet_loss: the stall began in the phase before.
        let mut before = snap(1, 5, 0);
        before.state = PlaybackState::Rebuffering;
        before.rebuffer_count = 2;
        before.rebuffer_time_ms = 1000.0;
        let mut after = snap(1, 8, 0);
        after.rebuffer_count = 2;
        after.rebuffer_time_ms = 5000.0;
        let f = phase_figures(Some(&before), Some(&after), 30.0);
        assert_eq!((f.rebuffers, f.stall_ms), (1, 4000.0));
        // A new stall in the phase is counted once, not twice.
        after.rebuffer_count = 3;
        assert_eq!(
            phase_figures(Some(&before), Some(&after), 30.0).rebuffers,
            1
        );
        // No stall time in the phase, no event.
        after.rebuffer_count = 2;
        after.rebuffer_time_ms = 1000.0;
        assert_eq!(
            phase_figures(Some(&before), Some(&after), 30.0).rebuffers,
            0
        );
    }

    fn result(phase: &str, smart_stall_ms: f64, naive_stall_ms: f64) -> PhaseResult {
        let f = |stall_ms| PhaseFigures {
            chunks: 10,
            stall_ms,
            rebuffers: u32::from(stall_ms > 0.0),
            per_node: vec![7, 3],
            per_node_bytes: vec![710, 290],
            node_ids: vec!["node-1".into(), "node-2".into()],
            ..PhaseFigures::default()
        };
        PhaseResult {
            phase: phase.into(),
            smart: f(smart_stall_ms),
            naive: f(naive_stall_ms),
        }
    }

    #[test]
    fn the_largest_gap_is_reported_whichever_client_it_favours() {
        let rs = [
            result("packet_loss", 0.0, 200.0),
            result("low_bandwidth", 9300.0, 0.0),
        ];
        let f = findings(&rs);
        let gap = f.last().unwrap();
        assert!(gap.contains("low_bandwidth"), "{gap}");
        assert!(gap.contains("smart worse by 9.3 s"), "{gap}");
        let f = findings(&[result("normal", 0.0, 0.0)]);
        assert_eq!(
            f.last().unwrap(),
            "no phase separated the clients on stall time"
        );
    }

    #[test]
    fn narration_states_measured_shares_and_the_verdict() {
        let n = narrate(&result("normal", 0.0, 1500.0));
        assert!(n.contains("node-1 delivered 71 % of the bytes"), "{n}");
        assert!(n.contains("smart stalled 1.5 s less"), "{n}");
        assert!(narrate(&result("x", 0.0, 0.0)).ends_with("neither stalled."));
        assert!(narrate(&result("x", 0.0, 20.0)).ends_with("neither stalled."));
        assert!(narrate(&result("x", 900.0, 920.0)).ends_with("both stalled alike."));
        let mut r = result("x", 0.0, 0.0);
        r.smart.per_node_bytes = vec![0, 0];
        assert!(
            !narrate_client("smart", &r.smart).contains("delivered"),
            "no bytes, no share"
        );
    }
}
