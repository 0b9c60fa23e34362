//! Consensus tab (`/consensus`): replays a recorded ChunkPaxos run step by
//! step. Each scenario (normal operation, concurrent uploaders in conflict,
//! node failure) is run by the server with the real protocol code on a
//! virtual clock ([`crate::api::consensus_run`]); the tab only replays the
//! record: play / pause / step / speed, a scrubbable timeline, the message
//! timeline (from → to, type, ballot, value), a panel per node and per
//! uploader, a line of narration per step, and the message count against
//! the fast path and classic Paxos.

use leptos::prelude::*;

use super::Card;
use crate::{
    api::consensus_run,
    wire::{ConsensusRecording, ConsensusScenario, ConsensusStep},
};

/// Base time per step at 1× replay speed, ms.
const STEP_MS: f64 = 900.0;

const SCENARIOS: [(ConsensusScenario, &str); 3] = [
    (ConsensusScenario::Normal, "Normal operation"),
    (ConsensusScenario::Conflict, "Concurrent uploaders"),
    (ConsensusScenario::NodeFailure, "Node failure"),
];

/// The replay's state, shared by the tab's parts.
#[derive(Clone, Copy)]
struct Replay {
    scenario: RwSignal<ConsensusScenario>,
    seed: RwSignal<u64>,
    /// Index of the step shown.
    step: RwSignal<usize>,
    playing: RwSignal<bool>,
    /// Replay speed factor.
    speed: RwSignal<f64>,
    /// The recording, once the server sent it.
    rec: Signal<Option<ConsensusRecording>>,
}

impl Replay {
    fn len(self) -> usize {
        self.rec.with(|r| r.as_ref().map_or(0, |r| r.steps.len()))
    }

    /// The step shown and its index.
    fn current(self) -> Option<(usize, usize, ConsensusStep)> {
        self.rec.with(|r| {
            let r = r.as_ref()?;
            let i = self.step.get().min(r.steps.len().saturating_sub(1));
            r.steps.get(i).map(|s| (i, r.steps.len(), s.clone()))
        })
    }

    /// Advances one step every [`STEP_MS`] ÷ speed while playing (browser
    /// only; a 100 ms timer).
    fn run_clock(self) {
        let acc = std::rc::Rc::new(std::cell::Cell::new(0.0f64));
        let _ = set_interval_with_handle(
            move || {
                if !self.playing.get_untracked() {
                    return;
                }
                acc.set(acc.get() + 100.0 * self.speed.get_untracked());
                if acc.get() >= STEP_MS {
                    acc.set(0.0);
                    if self.step.get_untracked() + 1 < self.len() {
                        self.step.update(|s| *s += 1);
                    } else {
                        self.playing.set(false);
                    }
                }
            },
            std::time::Duration::from_millis(100),
        );
    }
}

/// The Consensus tab.
#[component]
pub fn ConsensusPage() -> impl IntoView {
    let scenario = RwSignal::new(ConsensusScenario::Normal);
    let seed = RwSignal::new(1u64);
    let record = LocalResource::new(move || {
        let (s, n) = (scenario.get(), seed.get());
        async move { consensus_run(s, n).await }
    });
    let replay = Replay {
        scenario,
        seed,
        step: RwSignal::new(0),
        playing: RwSignal::new(false),
        speed: RwSignal::new(1.0),
        rec: Signal::derive(move || record.get().and_then(|r| r.ok())),
    };
    // A new recording starts at its first step.
    Effect::new(move |_| {
        replay.rec.track();
        replay.step.set(0);
        replay.playing.set(false);
    });
    Effect::new(move |_| replay.run_clock());
    view! {
        <div class="page-grid wide">
            <section class="card span-2" data-testid="consensus-controls">
                <h2>"ChunkPaxos: one Paxos instance per chunk, storage nodes as acceptors, uploaders as proposers"</h2>
                <ScenarioPicker replay/>
                {move || replay.rec.get().map(|r| view! { <p class="muted" data-testid="cons-description">{r.description.clone()}</p> })}
                <Transport replay/>
                {move || replay.current().map(|(i, n, s)| view! {
                    <p class="muted small" data-testid="cons-position">
                        {format!("step {} of {n} · t = {:.1} ms", i + 1, s.t_ms)}
                    </p>
                    <p class="narration" data-testid="cons-narration">{s.narration.clone()}</p>
                })}
                {move || replay.rec.get().map(|r| counts(&r, replay.step.get()))}
            </section>
            <Card title="Nodes (acceptors) and uploaders (proposers)">
                {move || replay.current().map(|(_, _, s)| node_tables(&s))}
            </Card>
            <Card title="Message timeline (newest first)">
                <MessageTimeline replay/>
            </Card>
        </div>
    }
}

/// The scenario buttons and the seed.
#[component]
fn ScenarioPicker(replay: Replay) -> impl IntoView {
    let Replay { scenario, seed, .. } = replay;
    view! {
        <div class="control-row">
            {SCENARIOS.iter().map(|&(name, label)| {
                view! {
                    <button class="btn" data-testid=format!("cons-scenario-{name}")
                        class:active=move || scenario.get() == name
                        on:click=move |_| scenario.set(name)>{label}</button>
                }
            }).collect_view()}
            <label class="small">" seed "
                <input type="number" min="1" class="num" data-testid="cons-seed"
                    prop:value=move || seed.get().to_string()
                    on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { seed.set(v) }/>
            </label>
        </div>
    }
}

/// First / back / play / step / last, the speed and the scrubbable timeline.
#[component]
fn Transport(replay: Replay) -> impl IntoView {
    let Replay {
        step,
        playing,
        speed,
        ..
    } = replay;
    let len = move || replay.len();
    view! {
        <div class="control-row">
            <button class="btn" data-testid="cons-first" on:click=move |_| { playing.set(false); step.set(0) }>"« first"</button>
            <button class="btn" data-testid="cons-back" on:click=move |_| { playing.set(false); step.update(|s| *s = s.saturating_sub(1)) }>"◀ step"</button>
            <button class="btn" data-testid="cons-play" on:click=move |_| {
                if step.get_untracked() + 1 >= len() { step.set(0) }
                playing.update(|p| *p = !*p)
            }>{move || if playing.get() { "pause" } else { "▶ play" }}</button>
            <button class="btn" data-testid="cons-step" on:click=move |_| {
                playing.set(false);
                let n = len();
                step.update(|s| if *s + 1 < n { *s += 1 })
            }>"step ▶"</button>
            <button class="btn" data-testid="cons-last" on:click=move |_| { playing.set(false); step.set(len().saturating_sub(1)) }>"last »"</button>
            <label class="small">" speed "
                <select data-testid="cons-speed" on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { speed.set(v) }>
                    <option value="0.5">"0.5×"</option>
                    <option value="1" selected>"1×"</option>
                    <option value="2">"2×"</option>
                    <option value="4">"4×"</option>
                </select>
            </label>
        </div>
        <input type="range" class="timeline" min="0" data-testid="cons-timeline"
            prop:max=move || len().saturating_sub(1).to_string()
            prop:value=move || step.get().to_string()
            on:input=move |ev| { playing.set(false); if let Ok(v) = event_target_value(&ev).parse() { step.set(v) } }/>
    }
}

/// Each node's and each uploader's state after step `s`; once an uploader
/// learned the value, the nodes whose last vote is for it are marked.
fn node_tables(s: &ConsensusStep) -> impl IntoView + use<> {
    let chosen = s.proposers.iter().find_map(|p| p.chosen.clone());
    view! {
        <table class="cmp" data-testid="cons-acceptors">
            <thead><tr><th>"node"</th><th>"promised"</th><th>"accepted"</th><th>"value"</th><th>"chosen"</th></tr></thead>
            <tbody>
                {s.acceptors.iter().map(|a| {
                    let holds = chosen.is_some() && a.accepted_value == chosen;
                    view! {
                    <tr class:pending=!a.up data-node=a.name.clone()>
                        <td>{a.name.clone()}{(!a.up).then_some(" (down)")}</td>
                        <td>{a.promised.clone().unwrap_or_else(|| "—".into())}</td>
                        <td>{a.accepted_ballot.clone().unwrap_or_else(|| "—".into())}</td>
                        <td>{a.accepted_value.clone().unwrap_or_else(|| "—".into())}</td>
                        <td class:ok=holds>{if holds { "✓" } else { "" }}</td>
                    </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <table class="cmp" data-testid="cons-proposers">
            <thead><tr><th>"uploader"</th><th>"phase"</th><th>"ballot"</th><th>"chosen"</th></tr></thead>
            <tbody>
                {s.proposers.iter().map(|p| view! {
                    <tr data-proposer=p.name.clone()>
                        <td>{p.name.clone()}</td>
                        <td>{p.phase.name()}</td>
                        <td>{p.ballot.clone().unwrap_or_else(|| "—".into())}</td>
                        <td class:ok=p.chosen.is_some()>{p.chosen.clone().unwrap_or_else(|| "—".into())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// The messages up to the step shown, newest first (so it stays in view).
#[component]
fn MessageTimeline(replay: Replay) -> impl IntoView {
    view! {
        <div class="table-scroll timeline-list">
            <table class="cmp" data-testid="cons-messages">
                <thead><tr><th>"t ms"</th><th>"from → to"</th><th>"type"</th><th>"ballot"</th><th>"value"</th></tr></thead>
                <tbody>
                    {move || replay.rec.get().map(|r| {
                        let cur = replay.step.get();
                        r.steps.iter().enumerate().take(cur + 1).rev().map(|(i, s)| view! {
                            <tr class:current=i == cur class:pending=s.lost>
                                <td>{format!("{:.1}", s.t_ms)}</td>
                                <td>{format!("{} → {}", s.from, s.to)}</td>
                                <td>{if s.lost { format!("{} (lost)", s.kind) } else { s.kind.to_string() }}</td>
                                <td>{s.ballot.clone()}</td>
                                <td>{s.value.clone().unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()
                    })}
                </tbody>
            </table>
        </div>
    }
}

/// Messages so far against the two reference counts, and the outcome once
/// the last step is reached.
fn counts(r: &ConsensusRecording, step: usize) -> impl IntoView + use<> {
    let so_far = r
        .steps
        .iter()
        .take(step + 1)
        .filter(|s| s.kind.is_message())
        .count();
    let at_end = step + 1 >= r.steps.len();
    view! {
        <div class="stats" data-testid="cons-counts">
            <div class="stat"><span class="stat-label">"messages so far"</span>
                <span class="stat-value" data-testid="cons-messages-so-far">{so_far.to_string()}</span></div>
            <div class="stat"><span class="stat-label">"messages in the run"</span>
                <span class="stat-value" data-testid="cons-messages-total">{r.messages.to_string()}</span></div>
            <div class="stat"><span class="stat-label">"fast path (ChunkPaxos)"</span>
                <span class="stat-value">{r.fast_path_messages.to_string()}</span></div>
            <div class="stat"><span class="stat-label">"classic Paxos"</span>
                <span class="stat-value">{r.classic_messages.to_string()}</span></div>
            <div class="stat"><span class="stat-label">"chosen"</span>
                <span class="stat-value" data-testid="cons-chosen">{if at_end { r.chosen.clone().unwrap_or_else(|| "nothing".into()) } else { "…".into() }}</span></div>
        </div>
    }
}
