//! Building blocks of the engine views: the buffer bar, playback and download
//! stats, node cards, the chunk source grid, the throughput meter and the
//! controls panel. All read the live engine state from
//! [`crate::feed::LiveFeed::engine`].

use leptos::prelude::*;

use crate::{
    api::control,
    feed::{ConnectionState, use_live_feed},
    wire::{ClientKind, ClientSnapshot, Control, DashboardSnapshot, Scenario},
};

/// Colours of nodes 1, 2, 3, … (chunk grid, load bars, node series).
pub const NODE_COLORS: [&str; 6] = [
    "#667eea", "#ed8936", "#38b2ac", "#e53e3e", "#9f7aea", "#d69e2e",
];

/// The colour of node `node_id` within `node_ids`.
pub fn node_color(node_ids: &[String], node_id: &str) -> &'static str {
    let i = node_ids.iter().position(|n| n == node_id).unwrap_or(0);
    NODE_COLORS[i % NODE_COLORS.len()]
}

/// A picker of the seed's named scenarios writing the choice into `value`.
#[component]
pub fn ScenarioSelect(value: RwSignal<Scenario>, testid: &'static str) -> impl IntoView {
    let pick = move |ev| {
        if let Some(s) = Scenario::from_name(&event_target_value(&ev)) {
            value.set(s);
        }
    };
    view! {
        <label>"Scenario "
            <select data-testid=testid on:change=pick>
                {Scenario::ALL.into_iter().map(|s| view! { <option value=s.name()>{s.name().replace('_', " ")}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// The seed's throughput target, Mbit/s.
pub const THROUGHPUT_TARGET_MBPS: f64 = 40.0;

/// The engine state, or `None`.
pub fn engine() -> Signal<Option<DashboardSnapshot>> {
    let feed = use_live_feed();
    Signal::derive(move || feed.engine.get())
}

/// One client of the snapshot by kind.
pub fn client_of(e: &DashboardSnapshot, kind: ClientKind) -> Option<ClientSnapshot> {
    e.clients.get(kind).clone()
}

/// What a client view shows: `client` when given (a Watch tab player's own
/// snapshot), else the live twin `kind` from the `/ws` stream.
fn shown(
    kind: ClientKind,
    client: Option<Signal<Option<ClientSnapshot>>>,
) -> Signal<Option<ClientSnapshot>> {
    client.unwrap_or_else(|| {
        let e = engine();
        Signal::derive(move || e.with(|e| e.as_ref().and_then(|e| client_of(e, kind))))
    })
}

/// Node ids in node order, as a client snapshot lists them.
fn ids_of(c: &ClientSnapshot) -> Vec<String> {
    c.nodes.iter().map(|n| n.node_id.clone()).collect()
}

/// "no data yet" / "stale" banner: shown when the stream is down or no engine
/// data arrived, so charts are never silently blank.
#[component]
pub fn StreamNotice() -> impl IntoView {
    let feed = use_live_feed();
    move || {
        let state = feed.state.get();
        let has = feed.engine.with(|e| e.is_some());
        match (state, has) {
            (ConnectionState::Live, true) => None,
            (ConnectionState::Live, false) => Some(view! {
                <div class="notice" data-testid="stream-notice">"No engine data yet: this server runs without the streaming engine, or it is still starting."</div>
            }.into_any()),
            (_, true) => Some(view! {
                <div class="notice stale" data-testid="stream-notice">"Stale: the live stream is down; figures below are from the last update. Reconnecting…"</div>
            }.into_any()),
            (_, false) => Some(view! {
                <div class="notice" data-testid="stream-notice">"No data yet: connecting to the live stream…"</div>
            }.into_any()),
        }
    }
}

fn fmt_opt(v: Option<f64>, digits: usize, unit: &str) -> String {
    v.map(|x| format!("{x:.digits$} {unit}"))
        .unwrap_or_else(|| "—".into())
}

/// Buffer level class: `empty` (< 1 s), `low` (< low-water), `healthy`
/// (< target), `full`.
pub fn buffer_class(level: f64, low: f64, target: f64) -> &'static str {
    if level < 1.0 {
        "empty"
    } else if level < low {
        "low"
    } else if level < target {
        "healthy"
    } else {
        "full"
    }
}

/// The buffer bar of one client, with target and low-water marks.
#[component]
pub fn BufferBar(
    kind: ClientKind,
    /// A player's own snapshot instead of the live twin's.
    #[prop(optional)]
    client: Option<Signal<Option<ClientSnapshot>>>,
) -> impl IntoView {
    let c = shown(kind, client);
    let c = move || c.get();
    view! {
        {move || c().map(|c| {
            let scale = c.buffer_target_s.max(1.0) * 1.2;
            let pct = (c.buffer_level_s / c.buffer_target_s.max(1.0) * 100.0).min(999.0);
            let width = (c.buffer_level_s / scale * 100.0).min(100.0);
            let class = buffer_class(c.buffer_level_s, c.low_water_mark_s, c.buffer_target_s);
            let low = c.low_water_mark_s / scale * 100.0;
            let target = c.buffer_target_s / scale * 100.0;
            view! {
                <div class="buffer">
                    <div class="buffer-bar" data-testid=format!("buffer-bar-{kind}") data-level=class>
                        <div class=format!("buffer-fill {class}") style=format!("width:{width:.1}%")></div>
                        <div class="buffer-mark low" style=format!("left:{low:.1}%") title="low-water mark"></div>
                        <div class="buffer-mark target" style=format!("left:{target:.1}%") title="target"></div>
                    </div>
                    <div class="buffer-text" data-testid=format!("buffer-{kind}")>
                        {format!("{:.1} s / {:.0} s target ({pct:.0} %) · low-water {:.0} s · {class}",
                            c.buffer_level_s, c.buffer_target_s, c.low_water_mark_s)}
                    </div>
                </div>
            }
        })}
    }
}

/// Playback and download statistics of one client.
#[component]
pub fn ClientStats(
    kind: ClientKind,
    /// A player's own snapshot instead of the live twin's.
    #[prop(optional)]
    client: Option<Signal<Option<ClientSnapshot>>>,
) -> impl IntoView {
    let c = shown(kind, client);
    let c = move || c.get();
    view! {
        {move || c().map(|c| view! {
            <div class="stats">
                <div class="stat"><span class="stat-label">"state"</span>
                    <span class=format!("stat-value state-{}", c.state.name()) data-testid=format!("state-{kind}")>{c.state.name()}</span></div>
                <div class="stat"><span class="stat-label">"startup latency"</span>
                    <span class="stat-value" data-testid=format!("startup-{kind}")>{fmt_opt(c.startup_latency_ms, 0, "ms")}</span></div>
                <div class="stat"><span class="stat-label">"rebuffering"</span>
                    <span class="stat-value">{format!("{} · {:.1} s", c.rebuffer_count, c.rebuffer_time_ms / 1e3)}</span></div>
                {c.level.zip(c.bitrate_kbps).map(|(level, kbps)| view! {
                    <div class="stat" title="the ladder level of the chunk at the playhead, and what was played so far">
                        <span class="stat-label">"quality"</span>
                        <span class="stat-value" data-testid=format!("quality-{kind}")>
                            {format!("level {}/{} · {kbps:.0} kbit/s", level + 1, c.bitrates_kbps.len())}
                            // Before the first media chunk has played there is no
                            // played bitrate to show: it reads 0 kbit/s, also after
                            // an initialization segment (no media time).
                            {c.quality.as_ref().filter(|q| q.played_bitrate_kbps > 0.0).map(|q| format!(" · played {:.0} kbit/s, {} switches", q.played_bitrate_kbps, q.switches))}
                        </span>
                    </div>
                }.into_any())}
                <div class="stat"><span class="stat-label">"chunks played"</span>
                    <span class="stat-value" data-testid=format!("played-{kind}")>{format!("{}/{}", c.chunks_played, c.chunk_count)}</span></div>
                <div class="stat"><span class="stat-label">"downloads"</span>
                    <span class="stat-value" data-testid=format!("downloads-{kind}")>{c.downloads.to_string()}</span></div>
                <div class="stat"><span class="stat-label">"success rate"</span>
                    <span class="stat-value">{format!("{:.1} %", c.success_rate * 100.0)}</span></div>
                <div class="stat"><span class="stat-label">"failovers"</span>
                    <span class="stat-value" data-testid=format!("failovers-{kind}")>{c.failovers.to_string()}</span></div>
                <div class="stat"><span class="stat-label">"session"</span>
                    <span class="stat-value">{format!("#{} · {:.0} s", c.session, c.elapsed_ms / 1e3)}</span></div>
            </div>
        })}
    }
}

/// Throughput meter: current (last collector interval), session average and
/// the 40 Mbit/s target.
#[component]
pub fn ThroughputMeter(kind: ClientKind) -> impl IntoView {
    let e = engine();
    let data = move || {
        e.with(|e| {
            let e = e.as_ref()?;
            let c = client_of(e, kind)?;
            let current = e
                .history
                .last()
                .and_then(|m| m.clients.get(kind).as_ref())
                .map(|s| s.throughput_mbps)
                .unwrap_or(0.0);
            Some((current, c.avg_throughput_mbps, c.goodput_mbps))
        })
    };
    view! {
        {move || data().map(|(current, avg, goodput)| {
            let scale = (THROUGHPUT_TARGET_MBPS * 2.5).max(current).max(avg);
            let w = |v: f64| (v / scale * 100.0).min(100.0);
            let met = avg >= THROUGHPUT_TARGET_MBPS;
            view! {
                <div class="meter" data-testid=format!("throughput-{kind}")>
                    <div class="meter-bar">
                        <div class="meter-fill" style=format!("width:{:.1}%", w(current))></div>
                        <div class="meter-avg" style=format!("left:{:.1}%", w(avg)) title="busy-time rate: bytes ÷ time with a download in flight"></div>
                        <div class="meter-target" style=format!("left:{:.1}%", w(THROUGHPUT_TARGET_MBPS)) title="target 40 Mbit/s"></div>
                    </div>
                    <div class="meter-text">
                        {format!("last interval {current:.1} Mbit/s · busy-time rate {avg:.1} Mbit/s (bytes ÷ time downloading; target {THROUGHPUT_TARGET_MBPS:.0} Mbit/s) ")}
                        <span class=if met { "ok" } else { "bad" }>{if met { "met" } else { "not met" }}</span>
                        {format!(" · session goodput {goodput:.2} Mbit/s (bytes ÷ session time)")}
                    </div>
                </div>
            }
        })}
    }
}

/// One card per storage node as this client sees it.
#[component]
pub fn NodeCards(
    kind: ClientKind,
    /// A player's own snapshot instead of the live twin's.
    #[prop(optional)]
    client: Option<Signal<Option<ClientSnapshot>>>,
) -> impl IntoView {
    let c = shown(kind, client);
    let data = move || {
        c.get().map(|c| {
            let ids = ids_of(&c);
            (c, ids)
        })
    };
    view! {
        <div class="nodes">
        {move || data().map(|(c, ids)| {
            let total: u64 = c.nodes.iter().map(|n| n.chunks).sum::<u64>().max(1);
            c.nodes.iter().map(|n| {
                let health = if n.killed { "down" } else { n.health.name() };
                let smart = kind == ClientKind::Smart;
                let load = n.chunks as f64 / total as f64 * 100.0;
                let color = node_color(&ids, &n.node_id);
                view! {
                    <div class=format!("node health-{health}") data-testid=format!("node-{kind}-{}", n.node_id) data-health=health>
                        <div class="node-head">
                            <span class="dot" style=format!("background:{color}")></span>
                            <strong>{n.node_id.clone()}</strong>
                            {(smart || n.killed).then(|| view! {
                                <span class=format!("badge health-{health}")>{if n.killed { "killed" } else { health }}</span>
                            })}
                        </div>
                        {if smart {
                            view! {
                                <div class="node-figs">
                                    <span>"score " <b>{format!("{:.2}", n.score)}</b></span>
                                    <span>"latency " <b>{fmt_opt(n.latency_ms, 1, "ms")}</b></span>
                                    <span>"bandwidth " <b>{fmt_opt(n.bandwidth_mbps, 1, "Mbit/s")}</b></span>
                                    <span>"success " <b>{format!("{:.0} %", n.success_rate * 100.0)}</b></span>
                                    <span>"in flight " <b>{n.in_flight.to_string()}</b></span>
                                </div>
                            }.into_any()
                        } else {
                            // Round robin neither scores nor probes: show only what its
                            // own downloads measured.
                            view! {
                                <div class="node-figs" data-testid="naive-node-figs">
                                    <span title="EWMA of this client's own download rates from this node">"download rate " <b>{fmt_opt(n.bandwidth_mbps, 1, "Mbit/s")}</b></span>
                                    <span>"success " <b>{format!("{:.0} %", n.success_rate * 100.0)}</b></span>
                                    <span>"in flight " <b>{n.in_flight.to_string()}</b></span>
                                </div>
                            }.into_any()
                        }}
                        <div class="load" title="share of this session's chunks">
                            <div class="load-fill" style=format!("width:{load:.1}%;background:{color}")></div>
                        </div>
                        <div class="muted small" data-testid=format!("node-bytes-{kind}-{}", n.node_id)>{format!("{} chunks · {} · {:.0} % of load · {} failures", n.chunks, crate::format::bytes(n.bytes), load, n.failures)}</div>
                    </div>
                }
            }).collect_view()
        })}
        </div>
    }
}

/// The last 50 chunks, coloured by the node that served them.
#[component]
pub fn ChunkGrid(
    kind: ClientKind,
    /// A player's own snapshot instead of the live twin's.
    #[prop(optional)]
    client: Option<Signal<Option<ClientSnapshot>>>,
) -> impl IntoView {
    let c = shown(kind, client);
    let data = move || {
        c.get().map(|c| {
            let ids = ids_of(&c);
            (c.recent_chunks, ids)
        })
    };
    view! {
        {move || data().map(|(chunks, ids)| view! {
            <div class="chunk-grid" data-testid=format!("chunk-grid-{kind}")>
                {chunks.iter().map(|c| view! {
                    <span class="chunk" data-node=c.node_id.clone()
                        style=format!("background:{}", node_color(&ids, &c.node_id))
                        title=format!("chunk {} from {} · {:.0} ms · {} bytes", c.chunk, c.node_id, c.download_ms, c.bytes)>
                        {c.chunk.to_string()}
                    </span>
                }).collect_view()}
            </div>
            <div class="legend-row">
                {ids.iter().map(|id| view! {
                    <span class="legend-item"><span class="dot" style=format!("background:{}", node_color(&ids, id))></span>{id.clone()}</span>
                }).collect_view()}
            </div>
        })}
    }
}

/// Sends `c` to the server and reports the answer in `status`.
pub fn send_control(c: Control, status: RwSignal<String>) {
    status.set("…".into());
    leptos::task::spawn_local(async move {
        let msg = match control(c).await {
            Ok(m) => m,
            Err(e) => format!("error: {e}"),
        };
        status.set(msg);
    });
}

/// Controls panel: play / stop / restart, scenario picker, per-node
/// conditions, kill / revive.
#[component]
pub fn Controls() -> impl IntoView {
    let e = engine();
    let status = RwSignal::new(String::new());
    let scenario = RwSignal::new(Scenario::Normal);
    let video = RwSignal::new(String::new());
    let node = RwSignal::new(0usize);
    let latency = RwSignal::new(0.0f64);
    let bandwidth = RwSignal::new(20.0f64);
    let loss = RwSignal::new(0.0f64);
    let down = RwSignal::new(false);
    let ids = move || e.with(|e| e.as_ref().map(|e| e.node_ids.clone()).unwrap_or_default());
    let killed = move |i: usize| {
        e.with(|e| {
            e.as_ref()
                .and_then(|e| e.clients.smart.as_ref())
                .and_then(|c| c.nodes.get(i))
                .is_some_and(|n| n.killed)
        })
    };
    view! {
        <crate::access::AdminGate>
        <div class="controls" data-testid="controls">
            <div class="control-row">
                <button class="btn" data-testid="ctl-play" on:click=move |_| send_control(Control::Play, status)>"Play"</button>
                <button class="btn" data-testid="ctl-stop" on:click=move |_| send_control(Control::Stop, status)>"Stop"</button>
                <button class="btn" data-testid="ctl-restart" on:click=move |_| send_control(Control::Restart, status)>"Restart"</button>
            </div>
            <div class="control-row">
                <label>"Video "
                    <select data-testid="ctl-video" on:change=move |ev| video.set(event_target_value(&ev))>
                        {move || e.with(|e| e.as_ref().map(|e| {
                            let current = e.video_id.clone();
                            e.videos.iter().map(|v| {
                                let selected = *v == current;
                                view! { <option value=v.clone() selected=selected>{v.clone()}</option> }
                            }).collect_view()
                        }))}
                    </select>
                </label>
                <button class="btn" data-testid="ctl-pick-video" on:click=move |_| {
                    let v = video.get_untracked();
                    let v = if v.is_empty() { e.with_untracked(|e| e.as_ref().map(|e| e.video_id.clone()).unwrap_or_default()) } else { v };
                    send_control(Control::PickVideo { video_id: v }, status)
                }>"Play video"</button>
            </div>
            <div class="control-row">
                <ScenarioSelect value=scenario testid="ctl-scenario"/>
                <button class="btn" data-testid="ctl-apply-scenario"
                    on:click=move |_| send_control(Control::Scenario { name: scenario.get_untracked() }, status)>"Apply"</button>
            </div>
            <div class="control-row nodes-ctl">
                {move || ids().into_iter().enumerate().map(|(i, id)| {
                    let k = killed(i);
                    view! {
                        <span class="node-ctl">
                            <span>{id.clone()}</span>
                            {if k {
                                view! { <button class="btn" data-testid=format!("revive-node-{i}") on:click=move |_| send_control(Control::ReviveNode { node: i }, status)>"Revive"</button> }.into_any()
                            } else {
                                view! { <button class="btn danger" data-testid=format!("kill-node-{i}") on:click=move |_| send_control(Control::KillNode { node: i }, status)>"Kill"</button> }.into_any()
                            }}
                        </span>
                    }
                }).collect_view()}
            </div>
            <details class="control-row">
                <summary>"Per-node conditions"</summary>
                <div class="sliders">
                    <label>"node "
                        <select on:change=move |ev| node.set(event_target_value(&ev).parse().unwrap_or(0))>
                            {move || ids().into_iter().enumerate().map(|(i, id)| view! { <option value=i.to_string()>{id}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>{move || format!("latency {:.0} ms", latency.get())}
                        <input type="range" min="0" max="500" step="5" prop:value=move || latency.get().to_string()
                            on:input=move |ev| latency.set(event_target_value(&ev).parse().unwrap_or(0.0))/></label>
                    <label>{move || format!("bandwidth {:.1} Mbit/s", bandwidth.get())}
                        <input type="range" min="0.5" max="200" step="0.5" prop:value=move || bandwidth.get().to_string()
                            on:input=move |ev| bandwidth.set(event_target_value(&ev).parse().unwrap_or(20.0))/></label>
                    <label>{move || format!("loss {:.0} %", loss.get() * 100.0)}
                        <input type="range" min="0" max="0.5" step="0.01" prop:value=move || loss.get().to_string()
                            on:input=move |ev| loss.set(event_target_value(&ev).parse().unwrap_or(0.0))/></label>
                    <label><input type="checkbox" prop:checked=move || down.get() on:change=move |ev| down.set(event_target_checked(&ev))/>" down"</label>
                    <button class="btn" data-testid="ctl-apply-node" on:click=move |_| send_control(Control::NodeConditions {
                        node: node.get_untracked(),
                        latency_ms: latency.get_untracked(),
                        bandwidth_mbps: Some(bandwidth.get_untracked()),
                        loss: loss.get_untracked(),
                        down: down.get_untracked(),
                    }, status)>"Apply to node"</button>
                </div>
            </details>
            <div class="muted small" data-testid="ctl-status">{move || status.get()}</div>
            <div class="muted small">{move || e.with(|e| e.as_ref().map(|e| format!("scenario: {} · {} · speed ×{}", e.scenario, e.conditions, e.speed)))}</div>
        </div>
        </crate::access::AdminGate>
    }
}
