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
}

/// The demo's phases and what to watch in each.
pub const PHASES: [(Phase, &str); 7] = [
    (
        Phase::Scenario(Scenario::Normal),
        "Normal operation: all nodes healthy. The smart client's scores rank node-1 (100 Mbit/s, 5 ms) first and it takes most chunks there; the naive client spreads chunks evenly.",
    ),
    (
        Phase::Scenario(Scenario::HighLatency),
        "Degradation 1, latency: +200 ms ± 50 ms on every node. Scores fall for all nodes alike; both clients keep playing from their buffers.",
    ),
    (
        Phase::Scenario(Scenario::LowBandwidth),
        "Degradation 2, bandwidth: every node capped at 3 Mbit/s. Buffers drain; watch which client stalls first.",
    ),
    (
        Phase::Scenario(Scenario::PacketLoss),
        "Degradation 3, loss: 10 % of transfers are cut. Failovers rise; reliability enters the smart client's scores.",
    ),
    (
        Phase::Scenario(Scenario::NodeFailure),
        "Node failure: node-1 is down. Both clients fail over; the smart client stops asking node-1 once its health turns down.",
    ),
    (
        Phase::Scenario(Scenario::Recovery),
        "Recovery: every node back on its profile. The smart client's probes notice node-1 again and its scores climb back.",
    ),
    (
        Phase::Chaos,
        "Chaos: every 5 s a random failure (a node killed and revived, a latency spike, loss) on the same seed for both clusters.",
    ),
];

/// One client's figures over one demo phase: differences of its counters
/// across the phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseFigures {
    /// Chunks downloaded in the phase.
    pub chunks: u64,
    /// Rebuffering events that started in the phase.
    pub rebuffers: u32,
    /// Stall time in the phase, ms.
    pub stall_ms: f64,
    /// Failovers in the phase.
    pub failovers: u64,
    /// Bytes in the phase × 8 / phase length (media time), Mbit/s.
    pub goodput_mbps: f64,
    /// Buffer level at the phase's end, s.
    pub buffer_end_s: f64,
    /// Chunks per node in the phase.
    pub per_node: Vec<u64>,
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
    PhaseFigures {
        chunks: b.downloads.saturating_sub(a.downloads),
        rebuffers: b.rebuffer_count.saturating_sub(a.rebuffer_count),
        stall_ms: (b.rebuffer_time_ms - a.rebuffer_time_ms).max(0.0),
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
    if let Some(worst) = results.iter().max_by(|x, y| {
        (x.naive.stall_ms - x.smart.stall_ms).total_cmp(&(y.naive.stall_ms - y.smart.stall_ms))
    }) && worst.naive.stall_ms > worst.smart.stall_ms
    {
        out.push(format!(
            "the largest gap was in {}: naive stalled {:.1} s, smart {:.1} s",
            worst.phase,
            worst.naive.stall_ms / 1e3,
            worst.smart.stall_ms / 1e3
        ));
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
            avg_download_ms: 0.0,
            avg_buffer_s: 0.0,
            nodes: Vec::new(),
            recent_chunks: Vec::new(),
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
}
