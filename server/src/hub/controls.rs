//! The dashboard's controls ([`Control`]), acting on both clusters and both
//! clients alike, and the seed's demo run on the hub's clusters (the loop of
//! [`crate::demo`], watched on the dashboard).

use std::{sync::Arc, time::Duration};

use vstack_core::engine::PerClient;
use vstack_core::wire::{Control, DemoPhase, DemoStatus, WsEvent};
use vstack_core::{
    conditions::{Conditions, Override, Scenario, ScenarioInForce},
    demo::{PHASES, Phase, findings, narrate, phase_name},
};

use super::{Hub, list_videos};
use crate::{
    cluster::embedded::{Cluster, restart_node_on_twins},
    demo::{DemoEvent, run_phases},
    sync::LockExt,
};

/// Seed of the chaos phase of a demo started from the dashboard.
const DEMO_SEED: u64 = 7;

impl Hub {
    /// Partitions node `node` (both clusters) or heals it, keeping its
    /// other conditions.
    async fn partition_node(&self, node: usize, partitioned: bool) -> Result<String, String> {
        self.check_node(node)?;
        let clusters = self.embedded().await?;
        for (_, cl) in clusters.iter() {
            cl.nodes()[node].emulator().set_partitioned(partitioned);
        }
        Ok(format!(
            "{} {}",
            self.node_ids[node],
            if partitioned { "partitioned" } else { "healed" }
        ))
    }

    /// Applies a control to both clusters / clients.
    ///
    /// # Errors
    /// A message for the user: unknown node or video, invalid conditions,
    /// a cluster control without an embedded cluster, a demo length out of
    /// range.
    pub async fn control(self: &Arc<Self>, control: Control) -> Result<String, String> {
        match control {
            Control::Play => {
                for (_, c) in self.clients.iter() {
                    c.stopped.send_replace(false);
                }
                Ok("playing".into())
            }
            Control::Stop => {
                for (_, c) in self.clients.iter() {
                    c.stopped.send_replace(true);
                }
                Ok("stopped".into())
            }
            Control::Restart => {
                self.restart_clients();
                Ok("restarted".into())
            }
            Control::RerunComparison { scenario } => {
                let under = match scenario {
                    Some(name) => {
                        let clusters = self.embedded().await?;
                        for (_, c) in clusters.iter() {
                            c.apply_scenario(name);
                        }
                        drop(clusters);
                        self.set_scenario(name.into());
                        format!("scenario {}", name.name())
                    }
                    None => "the current conditions".into(),
                };
                {
                    let mut sh = self.shared.locked();
                    sh.sessions.clear();
                    sh.pending.clear();
                    sh.compare_run = self.config.recorder.as_ref().map(|_| super::CompareRun {
                        id: crate::runs::new_id(),
                        started_unix_ms: crate::history::unix_ms_now(),
                        pairs_recorded: 0,
                        stored: false,
                    });
                }
                self.restart_clients();
                // Every open dashboard drops the old sessions at once.
                let _ = self
                    .events
                    .send(WsEvent::Snapshot(Box::new(self.snapshot())));
                Ok(format!("comparison restarted under {under}"))
            }
            Control::PickVideo { video_id } => self.pick_video(video_id).await,
            Control::Scenario { name } => {
                let clusters = self.embedded().await?;
                for (_, c) in clusters.iter() {
                    c.apply_scenario(name);
                }
                self.set_scenario(name.into());
                Ok(format!("scenario {}", name.name()))
            }
            Control::NodeConditions {
                node,
                latency_ms,
                bandwidth_mbps,
                loss,
                down,
            } => {
                self.check_node(node)?;
                let c = Conditions {
                    latency_ms,
                    bandwidth_mbps,
                    loss,
                    down,
                    ..Conditions::default()
                };
                c.validate()?;
                let clusters = self.embedded().await?;
                for (_, cl) in clusters.iter() {
                    cl.set_conditions(node, c.clone())?;
                }
                self.set_scenario(ScenarioInForce::Override(Override::Custom));
                Ok(format!("{} conditions set", self.node_ids[node]))
            }
            Control::KillNode { node } => {
                self.check_node(node)?;
                let mut clusters = self.embedded().await?;
                for (_, c) in clusters.iter_mut() {
                    c.kill_node(node);
                }
                self.set_killed(node, true);
                Ok(format!("{} killed", self.node_ids[node]))
            }
            Control::ReviveNode { node } => {
                self.check_node(node)?;
                let mut clusters = self.embedded().await?;
                restart_node_on_twins(&mut clusters, node)
                    .await
                    .map_err(|e| e.to_string())?;
                self.set_killed(node, false);
                Ok(format!("{} revived", self.node_ids[node]))
            }
            Control::PartitionNode { node, partitioned } => {
                self.partition_node(node, partitioned).await
            }
            Control::StartDemo { phase_s } => self.start_demo(phase_s).await,
            Control::MakeHot { video_id, clients } => self.make_hot(video_id, clients).await,
            Control::CoolDown => self.cool_down(),
            Control::StopDemo => {
                if self.stop_demo().await {
                    Ok("demo stopped; every node back on its base profile".into())
                } else {
                    Err("no demo is running".into())
                }
            }
        }
    }

    fn check_node(&self, i: usize) -> Result<(), String> {
        let n = self.node_ids.len();
        if i < n {
            Ok(())
        } else {
            Err(format!("no node {i}: the cluster has {n} nodes (0-based)"))
        }
    }

    fn restart_clients(&self) {
        for (_, c) in self.clients.iter() {
            c.restart();
        }
    }

    async fn pick_video(&self, video_id: String) -> Result<String, String> {
        let videos = list_videos(&reqwest::Client::new(), &self.metadata_url).await;
        if !videos.contains(&video_id) {
            return Err(format!(
                "unknown video {video_id:?}; the catalog has {}",
                videos.join(", ")
            ));
        }
        {
            let mut sh = self.shared.locked();
            sh.video_id = video_id.clone();
            sh.videos = videos;
        }
        self.restart_clients();
        Ok(format!("playing {video_id}"))
    }

    pub(super) async fn embedded(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, PerClient<Cluster>>, String> {
        match &self.clusters {
            Some(c) => Ok(c.lock().await),
            None => Err(
                "cluster controls need the embedded cluster (started without --metadata-url)"
                    .into(),
            ),
        }
    }

    /// Sets the scenario in force; sessions playing now are no longer
    /// steady.
    fn set_scenario(&self, scenario: ScenarioInForce) {
        let mut sh = self.shared.locked();
        sh.scenario = scenario;
        sh.conditions_epoch += 1;
    }

    /// Marks a node killed or revived; sessions playing now are no longer
    /// steady.
    fn set_killed(&self, node: usize, killed: bool) {
        let mut sh = self.shared.locked();
        if let Some(k) = sh.killed.get_mut(node)
            && *k != killed
        {
            *k = killed;
            sh.conditions_epoch += 1;
        }
    }

    /// Starts the demo: `phase_s` media seconds per phase (10–600), both
    /// clients restarted first; a running demo is stopped.
    async fn start_demo(self: &Arc<Self>, phase_s: u64) -> Result<String, String> {
        if !(10..=600).contains(&phase_s) {
            return Err(format!("phase_s must be in [10, 600] s, got {phase_s}"));
        }
        drop(self.embedded().await?);
        self.stop_demo().await;
        let phase_wall = Duration::from_secs(phase_s).div_f64(self.config.speed);
        self.shared.locked().demo = Some(DemoStatus {
            running: true,
            current: None,
            phase_s,
            phase_started_uptime_ms: 0,
            phase_wall_ms: u64::try_from(phase_wall.as_millis()).unwrap_or(u64::MAX),
            phases: PHASES
                .iter()
                .map(|(p, narration)| DemoPhase {
                    name: phase_name(*p).into(),
                    narration: (*narration).into(),
                    measured: None,
                    smart: None,
                    naive: None,
                })
                .collect(),
            events: Vec::new(),
            findings: Vec::new(),
            run_id: None,
        });
        self.restart_clients();
        let Some(clusters) = self.clusters.clone() else {
            return Err("the demo needs the embedded cluster".into());
        };
        let task = tokio::spawn(run_demo(Arc::downgrade(self), clusters, phase_s));
        *self.demo_task.locked() = Some(task);
        Ok(format!(
            "demo started: {} phases of {phase_s} s",
            PHASES.len()
        ))
    }

    /// Stops a running demo: aborts it, revives every node and restores the
    /// base profiles. Returns whether one was running.
    async fn stop_demo(&self) -> bool {
        let task = self.demo_task.locked().take();
        let Some(task) = task else { return false };
        let was_running = !task.is_finished();
        task.abort();
        if was_running && let Some(clusters) = &self.clusters {
            let mut clusters = clusters.lock().await;
            for i in 0..self.node_ids.len() {
                let _ = restart_node_on_twins(&mut clusters, i).await;
            }
            for (_, c) in clusters.iter() {
                c.apply_scenario(Scenario::Normal);
            }
            drop(clusters);
            for i in 0..self.node_ids.len() {
                self.set_killed(i, false);
            }
            self.set_scenario(Scenario::Normal.into());
            self.update_demo(|d| {
                d.running = false;
                d.current = None;
                d.findings = vec!["stopped from the dashboard before the end".into()];
            });
        }
        was_running
    }

    /// Changes the demo status and broadcasts it.
    fn update_demo(&self, f: impl FnOnce(&mut DemoStatus)) {
        let status = {
            let mut sh = self.shared.locked();
            let Some(d) = sh.demo.as_mut() else { return };
            f(d);
            d.clone()
        };
        let _ = self.events.send(WsEvent::Demo(Box::new(status)));
    }

    /// What the dashboard makes of a demo event: the phase in progress, the
    /// conditions in force, killed nodes, each phase's figures.
    fn on_demo_event(&self, ev: DemoEvent<'_>) {
        match ev {
            DemoEvent::PhaseStarted { index, phase, .. } => {
                self.set_scenario(match phase {
                    Phase::Scenario(s) => s.into(),
                    Phase::Chaos => ScenarioInForce::Override(Override::Chaos),
                    Phase::Redundancy => Scenario::Normal.into(),
                });
                let started = self.uptime_ms();
                self.update_demo(|d| {
                    d.current = Some(index);
                    d.phase_started_uptime_ms = started;
                });
            }
            DemoEvent::Chaos {
                at_s, what, killed, ..
            } => {
                for j in 0..self.node_ids.len() {
                    self.set_killed(j, killed.contains(&j));
                }
                self.update_demo(|d| d.events.push(format!("{at_s:>3} s: {what}")));
            }
            DemoEvent::PhaseEnded {
                index,
                phase,
                result,
            } => {
                if matches!(phase, Phase::Chaos | Phase::Redundancy) {
                    for j in 0..self.node_ids.len() {
                        self.set_killed(j, false);
                    }
                    self.set_scenario(Scenario::Normal.into());
                }
                self.update_demo(|d| {
                    d.phases[index].measured = Some(narrate(result));
                    d.phases[index].smart = Some(result.smart.clone());
                    d.phases[index].naive = Some(result.naive.clone());
                });
            }
        }
    }
}

/// The demo task: the phases on the hub's clusters, then the findings. Holds
/// the hub weakly, so dropping the hub (which aborts this task) is never
/// delayed by it.
async fn run_demo(
    hub: std::sync::Weak<Hub>,
    clusters: Arc<tokio::sync::Mutex<PerClient<Cluster>>>,
    phase_s: u64,
) {
    let Some(speed) = hub.upgrade().map(|h| h.config.speed) else {
        return;
    };
    // Let both clients start their new sessions.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snapshots = || {
        hub.upgrade()
            .map(|h| h.client_snapshots())
            .unwrap_or_default()
    };
    let progress = |ev: DemoEvent<'_>| {
        if let Some(h) = hub.upgrade() {
            h.on_demo_event(ev);
        }
    };
    let started = crate::history::unix_ms_now();
    let results = run_phases(&clusters, phase_s, speed, DEMO_SEED, snapshots, progress).await;
    if let Some(h) = hub.upgrade() {
        let findings = findings(&results);
        let run_id = h.config.recorder.as_ref().map(|rec| {
            let run = crate::runs::DemoRun {
                phase_s,
                speed,
                seed: DEMO_SEED,
                findings: findings.clone(),
                phases: results,
            };
            let times = (started, crate::history::unix_ms_now());
            let record = crate::runs::demo_record(&run, times, "dashboard");
            let id = record.summary.id.clone();
            rec.run(record);
            id
        });
        h.update_demo(|d| {
            d.running = false;
            d.current = None;
            d.findings = findings;
            d.run_id = run_id;
        });
    }
}
