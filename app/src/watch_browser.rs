//! The browser side of a Watch tab player: carries out the commands of a
//! [`Player`] (the core's engine, sans-IO) with the page's own APIs and
//! reports back what happened, with `now` from `performance.now()`.
//!
//! - Downloads: `fetch` with a `Range` header and an `AbortController`; the
//!   body is read through its `ReadableStream`, each piece reported as it
//!   comes ([`Player::on_bytes`]), so the engine's progress timers see a
//!   slow transfer while it runs.
//! - Probes: `fetch` of the node's ping route; time to headers and to the
//!   end of the body. The browser aborts a probe at [`PROBE_TIMEOUT`], when
//!   the engine has given up on it: a probe of a partitioned node never
//!   answers, and over HTTP/1.1 each one left open would hold one of the
//!   browser's six connections to the page's origin until the partition
//!   heals (with a probe every few seconds, the player's own downloads
//!   then queued behind them and it stalled).
//! - Hash checks: WebCrypto's `SHA-256` (off the main thread); where the
//!   page is not a secure context (plain HTTP to a name other than
//!   localhost), WebCrypto is absent and the check runs in WASM (`sha2`).
//! - Media: one `MediaSource` and one `SourceBuffer` of the manifest's MSE
//!   type; appends go one at a time in playback order (`updateend` starts
//!   the next), `endOfStream()` after the last.
//! - The `<video>` element's `timeupdate`, `playing`, `waiting` and `ended`
//!   events become [`PlayerEvent`]s with its `currentTime`.
//! - One timer, re-armed after every report at [`Player::next_timer`].
//!
//! A 429 from a chunk route (the server's viewer bound) stops the player;
//! its `refused` signal holds the server's message.

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    rc::Rc,
    time::Duration,
};

use leptos::prelude::*;
use vstack_core::{
    engine::{ClientKind, DownloadId, NodeId, PlayerEvent},
    wire::WatchManifest,
};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, AbortSignal, Headers, HtmlVideoElement, MediaSource,
    ReadableStreamDefaultReader, RequestInit, Response, SourceBuffer,
};

use crate::{
    pages::watch::{VideoFigures, Watch},
    watch_driver::{Command, PROBE_TIMEOUT, Player},
};

/// How often the page's figures refresh (and the engine hears the
/// element's position besides its own events): 250 ms.
pub const REFRESH: Duration = Duration::from_millis(250);

/// Page time (`performance.now()`).
pub fn now() -> Duration {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now());
    Duration::from_secs_f64(ms.max(0.0) / 1e3)
}

/// A random viewer id: 24 hex digits from `crypto.getRandomValues` (or
/// `Math.random` where there is no `crypto`).
pub fn viewer_id() -> String {
    let mut bytes = [0u8; 12];
    let filled = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
    if !filled {
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET url` as text, with the status.
async fn get_text(url: &str) -> Result<(u16, String), String> {
    let w = web_sys::window().ok_or("no window")?;
    let resp: Response = JsFuture::from(w.fetch_with_str(url))
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(js_err)?;
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default();
    Ok((resp.status(), text))
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            js_sys::Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `GET /watch/api/manifest`.
///
/// # Errors
/// The server's message, or why the request failed.
pub async fn manifest() -> Result<WatchManifest, String> {
    let (status, text) = get_text("/watch/api/manifest").await?;
    if status != 200 {
        return Err(error_message(&text).unwrap_or(text));
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The `error` field of a JSON error body.
fn error_message(text: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_owned)
}

/// A JavaScript event handler made from Rust.
type Handler = Closure<dyn FnMut()>;

/// One running player.
struct Live {
    player: RefCell<Player>,
    video: HtmlVideoElement,
    source: MediaSource,
    mse_type: String,
    buffer: RefCell<Option<SourceBuffer>>,
    appends: RefCell<VecDeque<Vec<u8>>>,
    end_pending: Cell<bool>,
    aborts: RefCell<HashMap<DownloadId, AbortController>>,
    timer: RefCell<Option<gloo_timers::callback::Timeout>>,
    stopped: Cell<bool>,
    out: Watch,
    /// The element's event handlers, by event name, kept while the
    /// player runs and removed by [`Running::stop`].
    listeners: RefCell<Vec<(&'static str, Handler)>>,
    /// `sourceopen`, `updateend` and the refresh interval's handlers.
    handlers: RefCell<Vec<Handler>>,
    /// The refresh interval's handle.
    interval: Cell<Option<i32>>,
}

/// A player started on a `<video>` element; dropping it does not stop it:
/// call [`Running::stop`].
#[derive(Clone)]
pub struct Running(Rc<Live>);

impl Running {
    /// Stops every transfer and timer and detaches the media.
    pub fn stop(&self) {
        let live = &self.0;
        live.stopped.set(true);
        for (_, c) in live.aborts.borrow_mut().drain() {
            c.abort();
        }
        live.timer.borrow_mut().take();
        if let (Some(w), Some(id)) = (web_sys::window(), live.interval.take()) {
            w.clear_interval_with_handle(id);
        }
        for (name, h) in live.listeners.borrow_mut().drain(..) {
            let _ = live
                .video
                .remove_event_listener_with_callback(name, h.as_ref().unchecked_ref());
        }
        live.source.set_onsourceopen(None);
        if let Some(b) = live.buffer.borrow_mut().take() {
            b.set_onupdateend(None);
        }
        // No handler refers to the player any more: the cycle through them
        // is broken and the closures may go.
        live.handlers.borrow_mut().clear();
        let _ = live.video.pause();
        live.video.remove_attribute("src").ok();
        live.video.load();
    }
}

/// Starts a `kind` player of `m` on `video` for viewer `viewer`: the
/// element gets a `MediaSource`; the engine starts at once and the element
/// is asked to play (muted, so no gesture is needed beyond the click that
/// started it).
///
/// # Errors
/// A message when the manifest cannot be played here (no MSE type, a
/// type this browser does not play, a bad manifest).
pub fn start(
    m: &WatchManifest,
    kind: ClientKind,
    viewer: &str,
    video: HtmlVideoElement,
    out: Watch,
) -> Result<Running, String> {
    let mse_type = m
        .mse_type
        .clone()
        .ok_or("this video is not H.264 in fragmented MP4 (synthetic bytes): a browser cannot play it; run `vstack serve` without --synthetic-video")?;
    if !MediaSource::is_type_supported(&mse_type) {
        return Err(format!("this browser cannot play {mse_type}"));
    }
    let player = Player::new(m, kind, viewer, now())?;
    let source = MediaSource::new().map_err(js_err)?;
    let url = web_sys::Url::create_object_url_with_source(&source).map_err(js_err)?;
    video.set_muted(true);
    video.set_src(&url);
    let live = Rc::new(Live {
        player: RefCell::new(player),
        video: video.clone(),
        source: source.clone(),
        mse_type,
        buffer: RefCell::new(None),
        appends: RefCell::new(VecDeque::new()),
        end_pending: Cell::new(false),
        aborts: RefCell::new(HashMap::new()),
        timer: RefCell::new(None),
        stopped: Cell::new(false),
        out,
        listeners: RefCell::new(Vec::new()),
        handlers: RefCell::new(Vec::new()),
        interval: Cell::new(None),
    });
    let l = live.clone();
    let open = Closure::<dyn FnMut()>::new(move || l.source_open());
    source.set_onsourceopen(Some(open.as_ref().unchecked_ref()));
    live.handlers.borrow_mut().push(open);
    for (name, event) in [
        ("playing", Some(PlayerEvent::Playing)),
        ("waiting", Some(PlayerEvent::Waiting)),
        ("ended", Some(PlayerEvent::Ended)),
        ("timeupdate", None),
    ] {
        let l = live.clone();
        let h = Closure::<dyn FnMut()>::new(move || {
            l.observe(event.unwrap_or(PlayerEvent::Position));
        });
        video
            .add_event_listener_with_callback(name, h.as_ref().unchecked_ref())
            .map_err(js_err)?;
        live.listeners.borrow_mut().push((name, h));
    }
    let l = live.clone();
    let tick = Closure::<dyn FnMut()>::new(move || l.refresh());
    if let Some(w) = web_sys::window() {
        let id = w
            .set_interval_with_callback_and_timeout_and_arguments_0(
                tick.as_ref().unchecked_ref(),
                REFRESH.as_millis() as i32,
            )
            .map_err(js_err)?;
        live.interval.set(Some(id));
    }
    live.handlers.borrow_mut().push(tick);
    let _ = video.play();
    live.drive();
    Ok(Running(live))
}

impl Live {
    fn source_open(self: &Rc<Self>) {
        if self.buffer.borrow().is_some() {
            return;
        }
        match self.source.add_source_buffer(&self.mse_type) {
            Ok(b) => {
                let l = self.clone();
                let end = Closure::<dyn FnMut()>::new(move || l.append_next());
                b.set_onupdateend(Some(end.as_ref().unchecked_ref()));
                self.handlers.borrow_mut().push(end);
                *self.buffer.borrow_mut() = Some(b);
                self.append_next();
            }
            Err(e) => self.fail(format!("addSourceBuffer: {}", js_err(e))),
        }
    }

    fn fail(&self, why: String) {
        self.out.refused.set(Some(why));
        self.stopped.set(true);
        for (_, c) in self.aborts.borrow_mut().drain() {
            c.abort();
        }
        self.timer.borrow_mut().take();
    }

    /// The element's state and figures into the engine and the page.
    fn observe(self: &Rc<Self>, event: PlayerEvent) {
        if self.stopped.get() {
            return;
        }
        let position = Duration::from_secs_f64(self.video.current_time().max(0.0));
        self.player.borrow_mut().on_player(now(), position, event);
        self.drive();
    }

    fn refresh(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        self.observe(PlayerEvent::Position);
        let q = self.video.get_video_playback_quality();
        self.out.video.set(VideoFigures {
            current_time_s: self.video.current_time(),
            total_frames: q.total_video_frames(),
            dropped_frames: q.dropped_video_frames(),
        });
        self.out.snapshot.set(Some(self.player.borrow().snapshot()));
    }

    /// Carries out every pending command and re-arms the timer.
    fn drive(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        loop {
            let cmd = self.player.borrow_mut().poll();
            let Some(cmd) = cmd else { break };
            match cmd {
                Command::Fetch { id, url, range } => {
                    let l = self.clone();
                    leptos::task::spawn_local(async move { l.download(id, url, range).await });
                }
                Command::Probe { node, url } => {
                    let l = self.clone();
                    leptos::task::spawn_local(async move { l.probe(node, url).await });
                }
                Command::Abort { id } => {
                    if let Some(c) = self.aborts.borrow_mut().remove(&id) {
                        c.abort();
                    }
                }
                Command::Verify {
                    chunk,
                    bytes,
                    sha256,
                } => {
                    let l = self.clone();
                    leptos::task::spawn_local(async move {
                        let ok = sha256_hex(&bytes).await.is_some_and(|h| h == sha256);
                        if !l.stopped.get() {
                            l.player.borrow_mut().on_verified(now(), chunk, ok);
                            l.drive();
                        }
                    });
                }
                Command::Append { bytes, .. } => {
                    self.appends.borrow_mut().push_back(bytes);
                    self.append_next();
                }
                Command::EndOfStream => {
                    self.end_pending.set(true);
                    self.append_next();
                }
            }
        }
        let next = self.player.borrow().next_timer();
        let timer = next.map(|at| {
            let wait = at.saturating_sub(now()).as_millis().min(60_000) as u32;
            let l = self.clone();
            gloo_timers::callback::Timeout::new(wait, move || {
                if !l.stopped.get() {
                    l.player.borrow_mut().on_timer(now());
                    l.drive();
                }
            })
        });
        *self.timer.borrow_mut() = timer;
    }

    /// The next queued append, when the `SourceBuffer` is idle.
    fn append_next(&self) {
        let buffer = self.buffer.borrow();
        let Some(b) = buffer.as_ref() else { return };
        if b.updating() || self.stopped.get() {
            return;
        }
        let next = self.appends.borrow_mut().pop_front();
        match next {
            Some(mut bytes) => {
                if let Err(e) = b.append_buffer_with_u8_array(&mut bytes) {
                    drop(buffer);
                    self.fail(format!("appendBuffer: {}", js_err(e)));
                }
            }
            None if self.end_pending.get() => {
                self.end_pending.set(false);
                let _ = self.source.end_of_stream();
            }
            None => {}
        }
    }

    async fn download(self: Rc<Self>, id: DownloadId, url: String, range: Option<(u64, u64)>) {
        let Ok(ctrl) = AbortController::new() else {
            return;
        };
        self.aborts.borrow_mut().insert(id, ctrl.clone());
        let result = self.read_range(id, &url, range, &ctrl).await;
        // Gone from the map: aborted on the engine's word, nothing to say.
        if self.aborts.borrow_mut().remove(&id).is_none() || self.stopped.get() {
            return;
        }
        match result {
            Ok(()) => self.player.borrow_mut().on_done(now(), id),
            Err(Refusal::Full(why)) => {
                self.fail(why);
                return;
            }
            Err(Refusal::Failed) => self.player.borrow_mut().on_failed(now(), id),
        }
        self.drive();
    }

    async fn read_range(
        &self,
        id: DownloadId,
        url: &str,
        range: Option<(u64, u64)>,
        ctrl: &AbortController,
    ) -> Result<(), Refusal> {
        let w = web_sys::window().ok_or(Refusal::Failed)?;
        let init = RequestInit::new();
        init.set_signal(Some(&ctrl.signal()));
        if let Some((a, b)) = range {
            let h = Headers::new().map_err(|_| Refusal::Failed)?;
            h.set("Range", &format!("bytes={a}-{b}"))
                .map_err(|_| Refusal::Failed)?;
            init.set_headers(&h);
        }
        let resp: Response = JsFuture::from(w.fetch_with_str_and_init(url, &init))
            .await
            .map_err(|_| Refusal::Failed)?
            .dyn_into()
            .map_err(|_| Refusal::Failed)?;
        if resp.status() == 429 {
            let text = match resp.text() {
                Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
                Err(_) => None,
            };
            return Err(Refusal::Full(
                text.as_deref()
                    .and_then(error_message)
                    .unwrap_or_else(|| "the server takes no more viewers now".into()),
            ));
        }
        if !resp.ok() {
            return Err(Refusal::Failed);
        }
        let body = resp.body().ok_or(Refusal::Failed)?;
        let reader: ReadableStreamDefaultReader =
            body.get_reader().dyn_into().map_err(|_| Refusal::Failed)?;
        loop {
            let r = JsFuture::from(reader.read())
                .await
                .map_err(|_| Refusal::Failed)?;
            let done = js_sys::Reflect::get(&r, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return Ok(());
            }
            if !self.aborts.borrow().contains_key(&id) {
                return Err(Refusal::Failed);
            }
            let value = js_sys::Reflect::get(&r, &"value".into()).map_err(|_| Refusal::Failed)?;
            let piece = js_sys::Uint8Array::new(&value).to_vec();
            self.player.borrow_mut().on_bytes(id, &piece);
        }
    }

    async fn probe(self: Rc<Self>, node: NodeId, url: String) {
        let started = now();
        let result = async {
            let w = web_sys::window()?;
            let init = RequestInit::new();
            let timeout_ms = u32::try_from(PROBE_TIMEOUT.as_millis()).unwrap_or(u32::MAX);
            init.set_signal(Some(&AbortSignal::timeout_with_u32(timeout_ms)));
            let resp: Response = JsFuture::from(w.fetch_with_str_and_init(&url, &init))
                .await
                .ok()?
                .dyn_into()
                .ok()?;
            let headers_at = now();
            if !resp.ok() {
                return None;
            }
            let body = JsFuture::from(resp.array_buffer().ok()?).await.ok()?;
            let bytes = js_sys::ArrayBuffer::from(body).byte_length();
            let rtt = headers_at.saturating_sub(started);
            let payload = (bytes > 0).then(|| (u64::from(bytes), now().saturating_sub(headers_at)));
            Some((rtt, payload))
        }
        .await;
        if self.stopped.get() {
            return;
        }
        match result {
            Some((rtt, payload)) => self.player.borrow_mut().on_probe(now(), node, rtt, payload),
            None => self.player.borrow_mut().on_probe_failed(now(), node),
        }
        self.drive();
    }
}

/// Why a download ended without its bytes.
enum Refusal {
    /// The server's viewer bound (429): the player stops, with its message.
    Full(String),
    /// Anything else: the engine fails over.
    Failed,
}

/// Hex SHA-256 of `bytes`: WebCrypto where the page has it, else `sha2` in
/// WASM.
async fn sha256_hex(bytes: &[u8]) -> Option<String> {
    let subtle = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .and_then(|c| {
            // `crypto.subtle` is undefined outside secure contexts.
            let s = js_sys::Reflect::get(&c, &"subtle".into()).ok()?;
            (!s.is_undefined()).then(|| c.subtle())
        });
    let digest: Vec<u8> = match subtle {
        Some(s) => {
            let p = s.digest_with_str_and_u8_array("SHA-256", bytes).ok()?;
            js_sys::Uint8Array::new(&JsFuture::from(p).await.ok()?).to_vec()
        }
        None => {
            use sha2::Digest;
            sha2::Sha256::digest(bytes).to_vec()
        }
    };
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}
