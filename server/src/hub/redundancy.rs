//! Adaptive redundancy on the dashboard: each collector tick reads the smart
//! client's cluster's replication report (in process) and keeps a bounded
//! history of it; the hot population (extra headless smart clients that make
//! a video hot, on both twin clusters alike and never counted in the
//! comparison) is started and stopped here.

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use vstack_core::engine::ClientKind;
use vstack_core::wire::{
    HotPopulation, REDUNDANCY_HISTORY, RedundancySample, RedundancyUpdate, RedundancyView, WsEvent,
};

use super::Hub;
use crate::{
    client::{fetch_view, play_session},
    sync::LockExt,
};

/// Most hot clients per cluster a control may start.
pub const MAX_HOT_CLIENTS: u32 = 50;

/// The hot population's tasks and figures.
#[derive(Debug, Default)]
pub(super) struct Hot {
    tasks: Vec<JoinHandle<()>>,
    pub(super) figures: HotPopulation,
}

impl Hot {
    fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        self.figures.video_id = None;
        self.figures.clients = 0;
    }
}

impl Drop for Hot {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Hub {
    /// The redundancy view (report, history, hot population), `None` when
    /// no replication manager runs on the smart client's cluster.
    pub fn redundancy(&self) -> Option<RedundancyView> {
        self.redundancy_view()
    }

    pub(super) fn redundancy_view(&self) -> Option<RedundancyView> {
        let svc = self.smart_metadata.as_ref()?;
        let report = svc.replication_report();
        if !report.enabled {
            return None;
        }
        let sh = self.shared.locked();
        Some(RedundancyView {
            report,
            history: sh.redundancy_history.iter().cloned().collect(),
            hot: self.hot.locked().figures.clone(),
        })
    }

    /// One collector tick's redundancy sample, kept and broadcast.
    pub(super) fn collect_redundancy(&self) {
        let Some(svc) = self.smart_metadata.as_ref() else {
            return;
        };
        let report = svc.replication_report();
        if !report.enabled {
            return;
        }
        let t = &report.totals;
        let sample = RedundancySample {
            uptime_ms: self.uptime_ms(),
            under_replicated: t.under_replicated,
            over_replicated: t.over_replicated,
            unavailable: t.unavailable,
            repair_mbps: t.repair_mbps,
            in_flight: t.repairs_in_flight,
            queued: t.queued,
            bytes_repaired: t.bytes_repaired,
        };
        {
            let mut sh = self.shared.locked();
            sh.redundancy_history.push_back(sample.clone());
            while sh.redundancy_history.len() > REDUNDANCY_HISTORY {
                sh.redundancy_history.pop_front();
            }
        }
        let hot = self.hot.locked().figures.clone();
        let _ = self
            .events
            .send(WsEvent::Redundancy(Box::new(RedundancyUpdate {
                report,
                sample,
                hot,
            })));
    }

    /// Starts `clients` headless smart clients playing `video_id` (default:
    /// the clients' video) on each twin cluster, replacing a running hot
    /// population. Each plays session after session until stopped.
    ///
    /// # Errors
    /// `clients` outside 1..=[`MAX_HOT_CLIENTS`], an unknown video, or no
    /// embedded cluster.
    pub(super) async fn make_hot(
        self: &Arc<Self>,
        video_id: Option<String>,
        clients: u32,
    ) -> Result<String, String> {
        if !(1..=MAX_HOT_CLIENTS).contains(&clients) {
            return Err(format!(
                "clients must be in 1..={MAX_HOT_CLIENTS}, got {clients}"
            ));
        }
        let urls = self.embedded().await?.as_ref().map(|_, c| c.metadata_url());
        let video_id = video_id.unwrap_or_else(|| self.shared.locked().video_id.clone());
        let http = reqwest::Client::new();
        // Checked once here, so a typo answers 400 instead of idle tasks.
        fetch_view(&http, &urls.smart, &video_id)
            .await
            .map_err(|e| format!("video {video_id:?}: {e}"))?;
        let mut hot = self.hot.locked();
        hot.stop();
        let speed = self.config.speed;
        for (_, url) in urls.iter() {
            for i in 0..clients {
                let (http, url, video_id) = (http.clone(), url.clone(), video_id.clone());
                let weak = Arc::downgrade(self);
                hot.tasks.push(tokio::spawn(async move {
                    // Spread the starts over a second so they do not move
                    // in lockstep.
                    tokio::time::sleep(Duration::from_millis(u64::from(i) * 1000 / 50)).await;
                    loop {
                        let played = match fetch_view(&http, &url, &video_id).await {
                            Ok(view) => play_session(http.clone(), view, ClientKind::Smart, speed)
                                .await
                                .is_ok(),
                            Err(_) => false,
                        };
                        let Some(hub) = weak.upgrade() else { break };
                        if played {
                            hub.hot.locked().figures.sessions_done += 1;
                        } else {
                            drop(hub);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }));
            }
        }
        hot.figures = HotPopulation {
            video_id: Some(video_id.clone()),
            clients,
            sessions_done: 0,
        };
        Ok(format!(
            "{video_id} is hot: {clients} extra smart clients on each cluster"
        ))
    }

    /// Stops the hot population.
    ///
    /// # Errors
    /// When none runs.
    pub(super) fn cool_down(&self) -> Result<String, String> {
        let mut hot = self.hot.locked();
        let Some(v) = hot.figures.video_id.clone() else {
            return Err("no video is hot".into());
        };
        hot.stop();
        Ok(format!("{v} cools down: the extra clients stopped"))
    }
}
