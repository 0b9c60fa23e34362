//! `vstack chaos`: seeded random failures on the embedded cluster while live
//! clients play, the invariants checked and reported (see the library's
//! `tools::chaos`), and the command that replays a failing run.

use clap::Args;
use vstack_core::conditions::Fault;

use super::parse_speed;
use crate::tools::chaos::{ChaosConfig, ChaosReport, execute};

/// Options of `vstack chaos`.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    /// Media seconds of failure injection.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub duration_s: u64,
    /// Length of the synthetic video (4 s chunks, 5 Mbit/s), s. Clients play
    /// it back to back while failures are injected.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(8..=86_400))]
    pub video_s: u64,
    /// Time compression factor.
    #[arg(long, default_value_t = 10.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Seed of the failure schedule and the emulators. Default: a random seed,
    /// printed so the run can be replayed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Live clients playing during the run, alternately smart and naive.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub clients: u64,
    /// Longest media-time gap between a failure's end and the next one, s
    /// (the gap is drawn in [1, gap]).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub gap_s: u64,
    /// Failure kinds to draw from, comma-separated. Default: all.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kinds: Vec<Fault>,
    /// Ballast of a memory-pressure failure, MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub memory_mib: u64,
    /// Self-test of the checks: flip one byte of one stored replica (the first
    /// chunk on node-1) on disk before the clients start. Clients must fail
    /// over on the hash mismatch, and the run must fail on the corrupted replica.
    #[arg(long)]
    pub corrupt_replica: bool,
    /// Skip the durability check at the end (a node lost for good, repaired
    /// by adaptive redundancy).
    #[arg(long)]
    pub no_permanent_loss: bool,
    /// Wall seconds from the permanent loss being declared to every chunk
    /// back at its target replication factor.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub restore_bound_s: u64,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Where else the run is kept (history database, a server).
    #[command(flatten)]
    pub keep: super::RunOutputArgs,
}

impl ChaosArgs {
    /// The run's settings.
    pub fn config(&self) -> ChaosConfig {
        ChaosConfig {
            duration_s: self.duration_s,
            video_s: self.video_s,
            speed: self.speed,
            clients: usize::try_from(self.clients).unwrap_or(usize::MAX),
            gap_s: self.gap_s,
            kinds: if self.kinds.is_empty() {
                Fault::ALL.to_vec()
            } else {
                self.kinds.clone()
            },
            memory_mib: self.memory_mib,
            corrupt_replica: self.corrupt_replica,
            permanent_loss: !self.no_permanent_loss,
            restore_bound_s: self.restore_bound_s,
        }
    }
}

fn print_report(r: &ChaosReport) {
    use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec![
        "at (s)".to_string(),
        "node".into(),
        "failure".into(),
        "held (s)".into(),
    ];
    header.extend(r.clients.iter().map(|c| format!("failover {}", c.name)));
    t.set_header(header);
    for f in &r.failures {
        let mut row = vec![
            format!("{:.1}", f.failure.at_s),
            format!("node-{}", f.failure.node + 1),
            match f.rss_growth_mib {
                Some(g) => format!("{} (+{g:.0} MiB RSS)", f.failure.kind.name()),
                None => f.failure.kind.name().to_string(),
            },
            format!("{:.1}", f.failure.hold_s),
        ];
        row.extend(f.failover_ms.iter().map(|v| match v {
            Some(ms) => format!("{:.2} s", ms / 1e3),
            None if f.failure.kind.breaks_requests() => "not hit".into(),
            None => "—".into(),
        }));
        t.add_row(row);
    }
    println!(
        "\nFailures (failover: from the injection or the failed request's start to the chunk's delivery elsewhere)\n{t}"
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "client",
        "sessions ended",
        "chunks",
        "mean startup",
        "rebuffers",
        "stalled",
        "failovers",
    ]);
    for c in &r.clients {
        t.add_row([
            c.name.clone(),
            format!("{}/{}", c.ended, c.sessions),
            format!("{}/{}", c.chunks.0, c.chunks.1),
            c.startup_ms_mean
                .map_or("—".into(), |ms| format!("{:.2} s", ms / 1e3)),
            c.rebuffers.to_string(),
            format!("{:.1} s", c.stall_ms / 1e3),
            c.failovers.to_string(),
        ]);
    }
    println!("\nClients\n{t}");
    let hits: Vec<f64> = r
        .failures
        .iter()
        .flat_map(|f| f.failover_ms.iter().flatten().copied())
        .collect();
    if let Some(max) = hits.iter().copied().reduce(f64::max) {
        println!(
            "\nfailover time over {} hits: mean {:.2} s, max {:.2} s",
            hits.len(),
            hits.iter().sum::<f64>() / hits.len() as f64 / 1e3,
            max / 1e3
        );
    }
    println!("\nInvariants");
    let ok = |b: bool| if b { "✓" } else { "✗" };
    let any = |pat: &str| r.violations.iter().any(|v| v.contains(pat));
    println!(
        "  {} playback continued or resumed to the end ({} of {} sessions)",
        ok(r.clients.iter().all(|c| c.ended == c.sessions)),
        r.clients.iter().map(|c| c.ended).sum::<u64>(),
        r.clients.iter().map(|c| c.sessions).sum::<u64>()
    );
    println!(
        "  {} every chunk played once, in order, hash verified",
        ok(!any("chunk") && !any("playhead") && !any("lagged"))
    );
    println!(
        "  {} stored replicas intact ({} read back and hashed)",
        ok(!any("replica")),
        r.replicas_verified
    );
    println!("  {} no panic ({} seen)", ok(r.panics == 0), r.panics);
    if let Some(d) = &r.durability {
        match d.restored_ms {
            Some(ms) => println!(
                "  {} durability: {} lost for good at {:.1} s → {} chunks under-replicated → every chunk back at its target in {:.1} s (bound {} s), {:.1} MB moved in {} hash-verified copies, {} rebuffer(s) during repair",
                ok(d.rebuffers_during_repair == 0),
                d.node_id,
                d.lost_at_s,
                d.under_replicated_at_loss,
                ms / 1e3,
                d.bound_s,
                d.bytes_moved as f64 / 1e6,
                d.copies,
                d.rebuffers_during_repair
            ),
            None => println!(
                "  ✗ durability: {} lost for good; not back at target within {} s",
                d.node_id, d.bound_s
            ),
        }
    }
    for v in &r.violations {
        println!("  ✗ {v}");
    }
}

/// The command line that replays a run: every option with its value.
pub fn replay_command(args: &ChaosArgs, seed: u64) -> String {
    let mut cmd = format!(
        "vstack chaos --seed {seed} --duration-s {} --video-s {} --speed {} --clients {} --gap-s {} --memory-mib {}",
        args.duration_s, args.video_s, args.speed, args.clients, args.gap_s, args.memory_mib
    );
    if !args.kinds.is_empty() {
        let kinds: Vec<&str> = args.kinds.iter().map(|k| k.name()).collect();
        cmd += &format!(" --kinds {}", kinds.join(",").replace('_', "-"));
    }
    if args.corrupt_replica {
        cmd += " --corrupt-replica";
    }
    if args.no_permanent_loss {
        cmd += " --no-permanent-loss";
    }
    if args.restore_bound_s != 60 {
        cmd += &format!(" --restore-bound-s {}", args.restore_bound_s);
    }
    cmd
}

/// Runs `vstack chaos`.
///
/// # Errors
/// When the cluster cannot start, or when an invariant breaks (the message
/// names the seed to replay).
pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(rand::random);
    if !args.json {
        println!(
            "vstack chaos: seed {seed}, {} s of failures at ×{} with {} client(s)",
            args.duration_s, args.speed, args.clients
        );
    }
    let json = args.json;
    let started = crate::history::unix_ms_now();
    let report = execute(&args.config(), seed, |line| {
        if !json {
            println!("{line}");
        }
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let times = (started, crate::history::unix_ms_now());
    super::keep_run(&args.keep, crate::runs::chaos_record(&report, times, "cli")).await?;
    if report.violations.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} invariant violation(s); replay with `{}`",
            report.violations.len(),
            replay_command(&args, seed)
        )
    }
}
