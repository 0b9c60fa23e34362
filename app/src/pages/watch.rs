//! Watch tab (`/watch`): the smart and the naive engine each feed a real
//! `<video>` element in this browser, started together, side by side.
//!
//! Each player is the core's engine driven in the page
//! ([`crate::watch_driver`], carried out by `watch_browser` in the WASM
//! build): it fetches the video's chunks from the storage nodes through the
//! dashboard's own origin (`/watch/{kind}/{node}/…`), on links of its own
//! that follow the nodes' conditions in force, checks each chunk's SHA-256
//! and appends it to a `SourceBuffer` in playback order. Under each player:
//! the element's figures (position, frames decoded and dropped), the
//! engine's (state, startup, stalls, downloads), the buffer bar, the storage
//! nodes with the bytes each served and the chunk source strip.
//!
//! Startup is play pressed → the element's first `playing` event; a stall
//! runs from its `waiting` to its next `playing`. The controls act on the
//! nodes, so on what both players (and the twins) face; the scenario or
//! demo phase in force is named above the players.

use leptos::{html, prelude::*};

use super::{
    Card,
    engine::{BufferBar, ChunkGrid, ClientStats, Controls, NodeCards},
};
use crate::{
    feed::use_live_feed,
    wire::{ClientKind, ClientSnapshot},
};

/// What the page shows of one `<video>` element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VideoFigures {
    /// The element's `currentTime`, s.
    pub current_time_s: f64,
    /// `getVideoPlaybackQuality().totalVideoFrames`.
    pub total_frames: u32,
    /// `getVideoPlaybackQuality().droppedVideoFrames`.
    pub dropped_frames: u32,
}

/// What the page shows of the hls.js peer: its own events (level, pathway,
/// segments per node, steering reloads, errors) and its `<video>`
/// element's (startup, stalls, position, frames).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerFigures {
    /// Where it plays from: a node index, `pathways` or `steering`.
    pub origin: String,
    /// Play pressed → the element's first `playing`, ms.
    pub startup_ms: Option<f64>,
    /// `waiting` events after the first frame.
    pub stalls: u32,
    /// Their time (`waiting` → `playing`), ms.
    pub stall_ms: f64,
    /// The element's `currentTime`, s.
    pub position_s: f64,
    /// Frames decoded.
    pub frames: u32,
    /// The level it loads now: its `BANDWIDTH`, kbit/s.
    pub level_kbps: Option<f64>,
    /// Level switches to another bitrate.
    pub switches: u32,
    /// `BANDWIDTH` of the segment playing now (hls.js's `FRAG_CHANGED`),
    /// kbit/s.
    pub playing_kbps: Option<f64>,
    /// The pathway (node id) of that level, with pathways.
    pub pathway: Option<String>,
    /// Segments and bytes each node (by index) served it.
    pub by_node: std::collections::BTreeMap<usize, (u32, u64)>,
    /// The node (index) that served the last segment loaded.
    pub last_node: Option<usize>,
    /// Steering manifests loaded.
    pub steering_reloads: u32,
    /// The last `PATHWAY-PRIORITY`, `a > b > c`.
    pub priority: Option<String>,
    /// hls.js errors (it retries or fails over on most).
    pub errors: u32,
    /// The fatal one that stopped it.
    pub fatal: Option<String>,
}

/// The signals one player writes.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    /// The engine's snapshot (buffer, nodes, chunk sources, startup, stalls).
    pub snapshot: RwSignal<Option<ClientSnapshot>>,
    /// The element's own figures.
    pub video: RwSignal<VideoFigures>,
    /// Set when the server refused this viewer or the media failed.
    pub refused: RwSignal<Option<String>>,
}

impl Watch {
    /// Empty signals.
    pub fn new() -> Self {
        Self {
            snapshot: RwSignal::new(None),
            video: RwSignal::new(VideoFigures::default()),
            refused: RwSignal::new(None),
        }
    }
}

impl Default for Watch {
    fn default() -> Self {
        Self::new()
    }
}

/// The label of the button that plays `kind`'s player alone.
fn only_label(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Smart => "Smart only",
        ClientKind::Naive => "Naive only",
    }
}

/// One player's column.
#[component]
fn PlayerColumn(
    kind: ClientKind,
    title: &'static str,
    out: Watch,
    video: NodeRef<html::Video>,
) -> impl IntoView {
    let client = Signal::derive(move || out.snapshot.get());
    let figures = move || {
        let v = out.video.get();
        format!(
            "position {:.1} s · {} frames decoded · {} dropped",
            v.current_time_s, v.total_frames, v.dropped_frames
        )
    };
    view! {
        <section class="card client" data-testid=format!("watch-{kind}")>
            <h2>{title}</h2>
            <video node_ref=video class="watch-video" data-testid=format!("watch-video-{kind}")
                muted=true playsinline=true></video>
            <p class="muted small" data-testid=format!("watch-figures-{kind}")>{figures}</p>
            {move || out.refused.get().map(|why| view! {
                <p class="notice" data-testid=format!("watch-refused-{kind}")>{why}</p>
            })}
            <Show when=move || out.snapshot.with(Option::is_some)
                fallback=move || {
                    view! { <p class="muted">"Not playing: press Play both or "{only_label(kind)}"."</p> }
                }>
                <h3>"Playback and downloads"</h3>
                <ClientStats kind=kind client=client/>
                <h3>"Buffer"</h3>
                <BufferBar kind=kind client=client/>
                <h3>"Storage nodes"</h3>
                <NodeCards kind=kind client=client/>
                <h3>"Chunk sources (last 50)"</h3>
                <ChunkGrid kind=kind client=client/>
            </Show>
        </section>
    }
}

/// The hls.js peer's card: where it plays from, its video and figures.
#[component]
fn PeerCard() -> impl IntoView {
    let out = RwSignal::new(PeerFigures::default());
    let video = NodeRef::<html::Video>::new();
    let origin = RwSignal::new("steering".to_string());
    let nodes = RwSignal::new(Vec::<String>::new());
    let playing = RwSignal::new(false);
    let status = RwSignal::new(String::new());

    #[cfg(feature = "hydrate")]
    let (play, stop) = {
        use crate::watch_hls;
        leptos::task::spawn_local(async move {
            if let Ok(m) = crate::watch_browser::manifest().await {
                nodes.set(m.nodes);
            }
        });
        let running: StoredValue<Option<watch_hls::HlsPeer>, LocalStorage> =
            StoredValue::new_local(None);
        let stop = move || {
            running.update_value(|r| {
                if let Some(p) = r.take() {
                    p.stop();
                }
            });
            playing.set(false);
        };
        on_cleanup(stop);
        let play = move || {
            stop();
            let Some(el) = video.get_untracked() else {
                return;
            };
            let el: web_sys::HtmlVideoElement = el;
            let o = origin.get_untracked();
            status.set("Loading hls.js…".into());
            leptos::task::spawn_local(async move {
                match watch_hls::start(el, &o, out).await {
                    Ok(p) => {
                        running.set_value(Some(p));
                        playing.set(true);
                        status.set(String::new());
                    }
                    Err(e) => status.set(e),
                }
            });
        };
        (play, stop)
    };
    #[cfg(not(feature = "hydrate"))]
    let (play, stop) = (move || {}, move || {});

    let node_name = move |i: usize| {
        nodes
            .with(|n| n.get(i).cloned())
            .unwrap_or_else(|| format!("node {i}"))
    };
    let figures = move || {
        let f = out.get();
        let startup = f
            .startup_ms
            .map_or("—".into(), |ms| format!("{:.2} s", ms / 1e3));
        format!(
            "startup {startup} · {} stalls, {:.1} s · position {:.1} s · {} frames decoded",
            f.stalls,
            f.stall_ms / 1e3,
            f.position_s,
            f.frames
        )
    };
    let level = move || {
        let f = out.get();
        let level = f
            .level_kbps
            .map_or("—".into(), |k| format!("{k:.0} kbit/s"));
        let pathway = f.pathway.clone().unwrap_or_else(|| "—".into());
        format!(
            "level BANDWIDTH {level} ({} switches) · pathway {pathway} · {} errors{}",
            f.switches,
            f.errors,
            f.fatal
                .as_ref()
                .map(|d| format!(" · stopped: {d}"))
                .unwrap_or_default()
        )
    };
    let served = move || {
        let f = out.get();
        if f.by_node.is_empty() {
            return "Segments per node: none yet.".to_string();
        }
        let parts: Vec<String> = f
            .by_node
            .iter()
            .map(|(n, (segs, bytes))| {
                format!("{} {segs} ({:.1} MB)", node_name(*n), *bytes as f64 / 1e6)
            })
            .collect();
        format!("Segments per node: {}", parts.join(" · "))
    };
    let steering = move || {
        let f = out.get();
        f.priority.map(|p| {
            format!(
                "vstack's steering: {p} ({} manifests loaded)",
                f.steering_reloads
            )
        })
    };
    view! {
        <section class="card" data-testid="watch-hls">
            <h2>"hls.js, the player most sites ship"</h2>
            <p class="muted small">"The same video as HLS through this server, on links of its own that follow the nodes' conditions: from one node as its origin, from every node as pathways (it fails over between them on errors), or with vstack's content steering (it re-ranks the nodes every TTL by the smart monitor's scores). A node that lacks a segment fetches it from a replica first, as an edge does."</p>
            <div class="control-row">
                <label>"Origin "
                    <select data-testid="watch-hls-origin"
                        on:change=move |ev| origin.set(event_target_value(&ev))
                        prop:value=move || origin.get()>
                        <option value="steering">"every node, vstack's steering"</option>
                        <option value="pathways">"every node as pathways (static)"</option>
                        {move || nodes.get().into_iter().enumerate().map(|(i, n)| view! {
                            <option value=i.to_string()>{format!("{n} alone")}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button class="btn" data-testid="watch-hls-play" on:click=move |_| play()>"Play hls.js"</button>
                <button class="btn" data-testid="watch-hls-stop" disabled=move || !playing.get() on:click=move |_| stop()>"Stop"</button>
                <span class="muted" data-testid="watch-hls-status">{move || status.get()}</span>
            </div>
            <div class="two-col peer-body">
                <video node_ref=video class="watch-video" data-testid="watch-video-hls"
                    muted=true playsinline=true></video>
                <div>
                    <p class="muted small" data-testid="watch-hls-figures"
                        data-startup-ms=move || out.with(|f| f.startup_ms.map(|v| format!("{v:.0}")).unwrap_or_default())
                        data-pathway=move || out.with(|f| f.pathway.clone().unwrap_or_default())
                        data-last-node=move || out.with(|f| f.last_node.map(|n| n.to_string()).unwrap_or_default())
                        data-errors=move || out.with(|f| f.errors.to_string())
                        data-playing-kbps=move || out.with(|f| f.playing_kbps.map(|v| format!("{v:.0}")).unwrap_or_default())
                        data-level-kbps=move || out.with(|f| f.level_kbps.map(|v| format!("{v:.0}")).unwrap_or_default())
                        data-steering-reloads=move || out.with(|f| f.steering_reloads.to_string())>{figures}</p>
                    <p class="muted small" data-testid="watch-hls-level">{level}</p>
                    <p class="muted small" data-testid="watch-hls-served">{served}</p>
                    <p class="muted small" data-testid="watch-hls-steering">{steering}</p>
                </div>
            </div>
        </section>
    }
}

/// What the nodes face now: the scenario in force, and the demo's phase
/// when the demo runs.
fn conditions_line() -> impl IntoView {
    let feed = use_live_feed();
    move || {
        feed.engine.with(|e| {
            e.as_ref().map(|e| {
                let phase = e
                    .demo
                    .as_ref()
                    .filter(|d| d.running)
                    .map(|d| match d.current {
                        Some(i) => format!(
                            " · demo phase {} of {}: {}",
                            i + 1,
                            d.phases.len(),
                            d.phases[i].name
                        ),
                        None => " · demo starting".into(),
                    });
                format!(
                    "Conditions in force: {} ({}){}",
                    e.scenario,
                    e.conditions,
                    phase.unwrap_or_default()
                )
            })
        })
    }
}

/// The Watch tab.
#[component]
pub fn WatchPage() -> impl IntoView {
    let smart = Watch::new();
    let naive = Watch::new();
    let smart_video = NodeRef::<html::Video>::new();
    let naive_video = NodeRef::<html::Video>::new();
    let status = RwSignal::new(String::new());
    let playing = RwSignal::new(false);

    #[cfg(feature = "hydrate")]
    let (play, stop) = {
        use crate::watch_browser;
        let running: StoredValue<Vec<watch_browser::Running>, LocalStorage> =
            StoredValue::new_local(Vec::new());
        let stop = move || {
            running.update_value(|r| {
                for p in r.drain(..) {
                    p.stop();
                }
            });
            playing.set(false);
        };
        on_cleanup(stop);
        // `only`: play that engine's player alone (the other stays idle:
        // no requests of its own in the page's connection pool, no second
        // video decoding); `None` plays both.
        let play = move |only: Option<ClientKind>| {
            stop();
            for w in [smart, naive] {
                w.refused.set(None);
                w.snapshot.set(None);
            }
            status.set("Asking for the manifest…".into());
            leptos::task::spawn_local(async move {
                let m = match watch_browser::manifest().await {
                    Ok(m) => m,
                    Err(e) => {
                        status.set(format!("No video to watch: {e}"));
                        return;
                    }
                };
                if m.watching >= m.max_watchers {
                    status.set(format!(
                        "{} viewers are watching, the most this server takes ({}); try again later.",
                        m.watching, m.max_watchers
                    ));
                    return;
                }
                let viewer = watch_browser::viewer_id();
                let mut started = Vec::new();
                for (kind, out, node) in [
                    (ClientKind::Smart, smart, smart_video),
                    (ClientKind::Naive, naive, naive_video),
                ] {
                    if only.is_some_and(|o| o != kind) {
                        continue;
                    }
                    let Some(el) = node.get_untracked() else {
                        continue;
                    };
                    let el: web_sys::HtmlVideoElement = el;
                    match watch_browser::start(&m, kind, &viewer, el, out) {
                        Ok(r) => started.push(r),
                        Err(e) => out.refused.set(Some(e)),
                    }
                }
                let n = started.len();
                running.update_value(|r| r.extend(started));
                playing.set(n > 0);
                let which = match only {
                    None => "",
                    Some(ClientKind::Smart) => ", the smart client alone",
                    Some(ClientKind::Naive) => ", the naive client alone",
                };
                status.set(format!(
                    "Playing {} ({} chunks{which}) · {} watching of at most {}",
                    m.video_id,
                    m.chunks.len(),
                    m.watching + 1,
                    m.max_watchers
                ));
            });
        };
        (play, stop)
    };
    #[cfg(not(feature = "hydrate"))]
    let (play, stop) = (move |_: Option<ClientKind>| {}, move || {});

    view! {
        <section class="card watch-head" data-testid="watch-head">
            <h2>"Watch it play"</h2>
            <p>"Two real players in this browser, each fed by one engine: the smart client (scored nodes, parallel ranges, failover) and the naive one (round robin). Both fetch the same video through this server from the same storage nodes, each on links of its own that follow the nodes' conditions, so a stall below is the "
                <code>"<video>"</code>" element's own ("<code>"waiting"</code>" until "<code>"playing"</code>"). Startup: play pressed → first frame. "<em>{only_label(ClientKind::Smart)}</em>" and "<em>{only_label(ClientKind::Naive)}</em>" play one of them alone, so the other's requests and decoding do not share this browser with it."</p>
            <div class="control-row">
                <button class="btn" data-testid="watch-play" on:click=move |_| play(None)>"Play both"</button>
                <button class="btn" data-testid="watch-play-smart" on:click=move |_| play(Some(ClientKind::Smart))>{only_label(ClientKind::Smart)}</button>
                <button class="btn" data-testid="watch-play-naive" on:click=move |_| play(Some(ClientKind::Naive))>{only_label(ClientKind::Naive)}</button>
                <button class="btn" data-testid="watch-stop" disabled=move || !playing.get() on:click=move |_| stop()>"Stop"</button>
                <span class="muted" data-testid="watch-status">{move || status.get()}</span>
            </div>
            <p class="muted small" data-testid="watch-conditions">{conditions_line()}</p>
        </section>
        <div class="two-col">
            <PlayerColumn kind=ClientKind::Smart title="Smart client" out=smart video=smart_video/>
            <PlayerColumn kind=ClientKind::Naive title="Naive client (round robin)" out=naive video=naive_video/>
        </div>
        <PeerCard/>
        <div class="page-grid">
            <Card title="Controls (what both players face)">
                <Controls/>
            </Card>
            <section class="card span-2" data-testid="demo-card">
                <h2>"Demo"</h2>
                <super::demo::DemoPanel/>
            </section>
        </div>
    }
}
