//! Network conditions as data: what the emulator in front of a storage node
//! enforces ([`Conditions`]), the seed's named scenarios ([`Scenario`], seed
//! 001, "Network Emulator"), the demo's timeline and the catalogue of faults
//! that `vstack chaos` and the demo inject ([`Fault`]).
//!
//! Everything here is a pure value: the server's emulator applies it to real
//! responses, the dashboard shows it, and the scenario names cross the wire as
//! these enums' snake_case strings.

use serde::{Deserialize, Serialize};

/// The lowest bandwidth a node may be set to, Mbit/s: 0.01 (10 kbit/s). Below
/// it a 256 KiB body would take hours, and a value like 1e-300 overflowed the
/// emulator's pacing arithmetic.
pub const MIN_BANDWIDTH_MBPS: f64 = 0.01;

/// Network conditions of one node. Defaults: no added latency, no jitter,
/// unshaped bandwidth, no loss, up, reachable, no disk delay.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// Added delay before a response's first byte, ms (≈ one round trip).
    pub latency_ms: f64,
    /// Uniform jitter on that delay, ± ms.
    pub jitter_ms: f64,
    /// Bandwidth limit shared by all responses of the node, Mbit/s (10⁶ bit/s);
    /// `None` = unshaped.
    pub bandwidth_mbps: Option<f64>,
    /// Probability in [0, 1] that a transfer is lost (cut and reset).
    pub loss: f64,
    /// The node refuses data requests (503).
    pub down: bool,
    /// The node is cut off by a network partition: requests reach it but no
    /// answer comes back until the partition heals (transfers in progress
    /// stall too), and its heartbeats to the metadata service stop. Unlike
    /// `down`, a client only notices through its own timeouts.
    pub partitioned: bool,
    /// Extra delay before every chunk read, ms (slow disk).
    pub disk_delay_ms: f64,
}

impl Conditions {
    /// A profile with `latency_ms` and `bandwidth_mbps`, nothing else.
    pub fn profile(latency_ms: f64, bandwidth_mbps: f64) -> Self {
        Self {
            latency_ms,
            bandwidth_mbps: Some(bandwidth_mbps),
            ..Self::default()
        }
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// A message naming the first bad field: latency, jitter and disk delay must
    /// be finite and in [0, 600 000] ms; bandwidth finite and in
    /// [[`MIN_BANDWIDTH_MBPS`], 100 000] Mbit/s; loss in [0, 1].
    pub fn validate(&self) -> Result<(), String> {
        let ms = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=600_000.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be in [0, 600000] ms, got {}", num(v)))
            }
        };
        ms("latency_ms", self.latency_ms)?;
        ms("jitter_ms", self.jitter_ms)?;
        ms("disk_delay_ms", self.disk_delay_ms)?;
        if let Some(bw) = self.bandwidth_mbps
            && !(bw.is_finite() && (MIN_BANDWIDTH_MBPS..=100_000.0).contains(&bw))
        {
            return Err(format!(
                "bandwidth_mbps must be in [{MIN_BANDWIDTH_MBPS}, 100000] Mbit/s, got {}",
                num(bw)
            ));
        }
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("loss must be in [0, 1], got {}", num(self.loss)));
        }
        Ok(())
    }
}

/// A number as a person reads it in an error: `1e-300`, not 300 zeros.
fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-3..1e9).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The seed's named scenarios (001, "Network Emulator"), applied to each node
/// relative to its base profile by [`Scenario::apply`].
///
/// On the wire: the snake_case name (`"high_latency"`); an unknown name is
/// refused with a message listing the known ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Every node on its base profile.
    Normal,
    /// Every node: +200 ms latency, ±50 ms jitter.
    HighLatency,
    /// Every node capped at 3 Mbit/s.
    LowBandwidth,
    /// Every node loses 10 % of its transfers.
    PacketLoss,
    /// Node 0 (the best profile) is down; the others on their base profile.
    NodeFailure,
    /// Node 0: +300 ms, 2 Mbit/s, 5 % loss; node 1: +100 ms; node 2+ base.
    Degraded,
    /// Back to the base profiles, every node up (the seed's recovery step).
    Recovery,
}

impl Scenario {
    /// Every scenario, in the seed's order.
    pub const ALL: [Scenario; 7] = [
        Scenario::Normal,
        Scenario::HighLatency,
        Scenario::LowBandwidth,
        Scenario::PacketLoss,
        Scenario::NodeFailure,
        Scenario::Degraded,
        Scenario::Recovery,
    ];

    /// The scenario's snake_case name (`node_failure`).
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::HighLatency => "high_latency",
            Scenario::LowBandwidth => "low_bandwidth",
            Scenario::PacketLoss => "packet_loss",
            Scenario::NodeFailure => "node_failure",
            Scenario::Degraded => "degraded",
            Scenario::Recovery => "recovery",
        }
    }

    /// Parses a snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Parses a snake_case name (a kebab-case one, `high-latency`, too).
    ///
    /// # Errors
    /// `unknown scenario "x"; one of normal, …` for any other name.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::from_name(&name.replace('-', "_")).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario {name:?}; one of {}", all.join(", "))
        })
    }

    /// Conditions of node number `node_index` (registration order) under this
    /// scenario, given its base profile.
    pub fn apply(self, node_index: usize, base: &Conditions) -> Conditions {
        let mut c = base.clone();
        c.down = false;
        match self {
            Scenario::Normal | Scenario::Recovery => {}
            Scenario::HighLatency => {
                c.latency_ms += 200.0;
                c.jitter_ms = c.jitter_ms.max(50.0);
            }
            Scenario::LowBandwidth => {
                c.bandwidth_mbps = Some(c.bandwidth_mbps.unwrap_or(f64::MAX).min(3.0));
            }
            Scenario::PacketLoss => c.loss = c.loss.max(0.10),
            Scenario::NodeFailure => c.down = node_index == 0,
            Scenario::Degraded => match node_index {
                0 => {
                    c.latency_ms += 300.0;
                    c.bandwidth_mbps = Some(c.bandwidth_mbps.unwrap_or(f64::MAX).min(2.0));
                    c.loss = c.loss.max(0.05);
                }
                1 => c.latency_ms += 100.0,
                _ => {}
            },
        }
        c
    }
}

impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Scenario::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// The seed's full demo as a timeline: (start in media seconds, scenario).
/// Normal 30 s → high latency 20 s → low bandwidth 20 s → packet loss 20 s →
/// node failure 30 s → degraded 20 s → recovery (from 140 s on).
pub const DEMO_TIMELINE: [(u64, Scenario); 7] = [
    (0, Scenario::Normal),
    (30, Scenario::HighLatency),
    (50, Scenario::LowBandwidth),
    (70, Scenario::PacketLoss),
    (90, Scenario::NodeFailure),
    (120, Scenario::Degraded),
    (140, Scenario::Recovery),
];

/// What a dashboard shows as "the scenario in force": one of the seed's named
/// [`Scenario`]s, per-node settings from the controls (`custom`) or the
/// demo's chaos phase (`chaos`). On the wire it is the bare snake_case name
/// (`"degraded"`, `"custom"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScenarioInForce {
    /// A named scenario on every node.
    Named(Scenario),
    /// Something else, see [`Override`].
    Override(Override),
}

/// Conditions in force that are not a named scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Override {
    /// Per-node conditions set from the controls.
    Custom,
    /// The demo's chaos phase (random faults).
    Chaos,
}

impl ScenarioInForce {
    /// The snake_case name shown (`normal`, `custom`, `chaos`).
    pub fn name(self) -> &'static str {
        match self {
            ScenarioInForce::Named(s) => s.name(),
            ScenarioInForce::Override(Override::Custom) => "custom",
            ScenarioInForce::Override(Override::Chaos) => "chaos",
        }
    }
}

impl Default for ScenarioInForce {
    /// `normal`.
    fn default() -> Self {
        ScenarioInForce::Named(Scenario::Normal)
    }
}

impl From<Scenario> for ScenarioInForce {
    fn from(s: Scenario) -> Self {
        ScenarioInForce::Named(s)
    }
}

impl std::fmt::Display for ScenarioInForce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Added latency of a [`Fault::LatencySpike`], ms.
pub const LATENCY_SPIKE_MS: f64 = 400.0;
/// Share of transfers a [`Fault::Loss`] cuts.
pub const FAULT_LOSS: f64 = 0.3;
/// Added delay before every chunk read of a [`Fault::SlowDisk`], ms.
pub const SLOW_DISK_MS: f64 = 500.0;

/// The faults `vstack chaos` and the demo's chaos phase inject on one node,
/// defined once: the link faults as [`Conditions`] relative to the node's base
/// profile ([`Fault::conditions`]: +[`LATENCY_SPIKE_MS`], [`FAULT_LOSS`],
/// +[`SLOW_DISK_MS`], a partition), the process faults (kill, memory
/// pressure) carried out by whoever owns the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The node is killed (listener closed, transfers reset, heartbeats
    /// stopped) and restarted on the same port and data when the failure heals.
    Kill,
    /// +400 ms on the node's latency.
    LatencySpike,
    /// 30 % of the node's transfers are cut.
    Loss,
    /// +500 ms before every chunk read (slow disk).
    SlowDisk,
    /// The node is partitioned: requests hang, heartbeats stop.
    Partition,
    /// A ballast of `--memory-mib` touched pages held in the process.
    MemoryPressure,
}

impl Fault {
    /// Every fault, in this order.
    pub const ALL: [Fault; 6] = [
        Fault::Kill,
        Fault::LatencySpike,
        Fault::Loss,
        Fault::SlowDisk,
        Fault::Partition,
        Fault::MemoryPressure,
    ];

    /// The faults of the demo's chaos phase (seed 001: kill, latency, loss).
    pub const DEMO: [Fault; 3] = [Fault::Kill, Fault::LatencySpike, Fault::Loss];

    /// snake_case name (`latency_spike`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::LatencySpike => "latency_spike",
            Fault::Loss => "loss",
            Fault::SlowDisk => "slow_disk",
            Fault::Partition => "partition",
            Fault::MemoryPressure => "memory_pressure",
        }
    }

    /// Whether requests to the node fail while it holds (so clients fail over).
    pub fn breaks_requests(self) -> bool {
        matches!(self, Fault::Kill | Fault::Loss | Fault::Partition)
    }

    /// The node's conditions under a link fault, relative to its `base`
    /// profile; `None` for the process faults ([`Fault::Kill`],
    /// [`Fault::MemoryPressure`]).
    pub fn conditions(self, base: &Conditions) -> Option<Conditions> {
        let base = base.clone();
        match self {
            Fault::LatencySpike => Some(Conditions {
                latency_ms: base.latency_ms + LATENCY_SPIKE_MS,
                ..base
            }),
            Fault::Loss => Some(Conditions {
                loss: FAULT_LOSS,
                ..base
            }),
            Fault::SlowDisk => Some(Conditions {
                disk_delay_ms: base.disk_delay_ms + SLOW_DISK_MS,
                ..base
            }),
            Fault::Partition => Some(Conditions {
                partitioned: true,
                ..base
            }),
            Fault::Kill | Fault::MemoryPressure => None,
        }
    }

    /// What happened, in a few words, for narration (`node-2 killed`).
    pub fn describe(self, node_id: &str) -> String {
        match self {
            Fault::Kill => format!("{node_id} killed"),
            Fault::LatencySpike => format!("{node_id} latency spike (+{LATENCY_SPIKE_MS:.0} ms)"),
            Fault::Loss => format!("{node_id} loses {:.0} % of transfers", FAULT_LOSS * 100.0),
            Fault::SlowDisk => format!("{node_id} slow disk (+{SLOW_DISK_MS:.0} ms per read)"),
            Fault::Partition => format!("{node_id} partitioned"),
            Fault::MemoryPressure => format!("memory pressure while {node_id} serves"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_follow_the_base_profile() {
        let base = Conditions::profile(5.0, 100.0);
        assert_eq!(Scenario::Normal.apply(0, &base), base);
        assert!(Scenario::NodeFailure.apply(0, &base).down);
        assert!(!Scenario::NodeFailure.apply(1, &base).down);
        assert_eq!(
            Scenario::LowBandwidth.apply(2, &base).bandwidth_mbps,
            Some(3.0)
        );
        assert_eq!(Scenario::HighLatency.apply(1, &base).latency_ms, 205.0);
        assert_eq!(Scenario::Degraded.apply(0, &base).bandwidth_mbps, Some(2.0));
        assert_eq!(Scenario::Recovery.apply(0, &base), base);
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
            assert!(s.apply(0, &base).validate().is_ok());
        }
    }

    #[test]
    fn bad_conditions_are_named() {
        let c = Conditions {
            loss: 2.0,
            ..Conditions::default()
        };
        assert!(c.validate().unwrap_err().contains("loss"));
        let c = Conditions {
            bandwidth_mbps: Some(0.0),
            ..Conditions::default()
        };
        assert!(c.validate().unwrap_err().contains("bandwidth_mbps"));
        for (bw, ok) in [(1e-300, false), (0.009, false), (0.01, true), (1e5, true)] {
            let c = Conditions::profile(0.0, bw);
            assert_eq!(c.validate().is_ok(), ok, "{bw}");
        }
        let e = Conditions::profile(0.0, 1e-300).validate().unwrap_err();
        assert!(e.ends_with("got 1e-300"), "{e}");
    }

    #[test]
    fn faults_are_relative_to_the_base_profile() {
        let base = Conditions::profile(20.0, 40.0);
        let spike = Fault::LatencySpike.conditions(&base).unwrap();
        assert_eq!(spike.latency_ms, 420.0);
        assert_eq!(spike.bandwidth_mbps, Some(40.0));
        assert_eq!(Fault::Loss.conditions(&base).unwrap().loss, 0.3);
        assert_eq!(
            Fault::SlowDisk.conditions(&base).unwrap().disk_delay_ms,
            500.0
        );
        assert!(Fault::Partition.conditions(&base).unwrap().partitioned);
        assert!(Fault::Kill.conditions(&base).is_none());
        for f in Fault::ALL {
            if let Some(c) = f.conditions(&base) {
                assert!(c.validate().is_ok(), "{f:?}");
            }
        }
        assert_eq!(
            Fault::Loss.describe("node-1"),
            "node-1 loses 30 % of transfers"
        );
        assert_eq!(
            Fault::LatencySpike.describe("node-2"),
            "node-2 latency spike (+400 ms)"
        );
    }

    #[test]
    fn scenario_in_force_is_a_bare_name_on_the_wire() {
        for (v, json) in [
            (ScenarioInForce::Named(Scenario::Degraded), "\"degraded\""),
            (ScenarioInForce::Override(Override::Custom), "\"custom\""),
            (ScenarioInForce::Override(Override::Chaos), "\"chaos\""),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<ScenarioInForce>(json).unwrap(), v);
            assert_eq!(format!("\"{v}\""), json);
        }
        assert!(serde_json::from_str::<ScenarioInForce>("\"storm\"").is_err());
        let e = serde_json::from_str::<Scenario>("\"storm\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown scenario") && e.contains("high_latency"),
            "{e}"
        );
    }
}
