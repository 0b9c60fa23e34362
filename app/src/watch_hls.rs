//! The Watch tab's peer: hls.js, the player most sites ship, in this
//! browser on the same nodes (WASM only).
//!
//! hls.js (npm, pinned; loaded on first use from `/vendor/hls.min.js`)
//! plays the server's HLS rendition of the video
//! (`/watch/hls/main.m3u8?viewer=V&origin=O`) on links of the viewer's own
//! that follow the nodes' conditions, from one node, from every node as
//! pathways, or from every node with vstack's content steering. Its own
//! events give the level (bitrate and pathway) and the segments each node
//! served; the `<video>` element's give startup and stalls, as for the
//! engine's players. Its worker is off (`enableWorker: false`): the page's
//! CSP allows no `blob:` scripts.

use std::{cell::RefCell, rc::Rc};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlVideoElement;

use crate::pages::watch::PeerFigures;

/// Where hls.js is served (bundled from npm by the setup).
pub const HLS_PATH: &str = "/vendor/hls.min.js";

#[wasm_bindgen]
extern "C" {
    /// hls.js's player (`window.Hls`).
    type Hls;
    #[wasm_bindgen(constructor, js_class = "Hls")]
    fn new(config: &JsValue) -> Hls;
    #[wasm_bindgen(static_method_of = Hls, js_class = "Hls", js_name = isSupported)]
    fn is_supported() -> bool;
    #[wasm_bindgen(method, js_class = "Hls", js_name = loadSource)]
    fn load_source(this: &Hls, url: &str);
    #[wasm_bindgen(method, js_class = "Hls", js_name = attachMedia)]
    fn attach_media(this: &Hls, media: &HtmlVideoElement);
    #[wasm_bindgen(method, js_class = "Hls")]
    fn on(this: &Hls, event: &str, handler: &js_sys::Function);
    #[wasm_bindgen(method, js_class = "Hls")]
    fn destroy(this: &Hls);
}

/// `obj.a.b…` by reflection; `undefined` where a step is missing.
fn path(obj: &JsValue, keys: &[&str]) -> JsValue {
    keys.iter().fold(obj.clone(), |o, k| {
        js_sys::Reflect::get(&o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    })
}

/// Loads hls.js once (a `<script>` in `<head>`), resolving when `Hls` exists.
async fn load_hls() -> Result<(), String> {
    let global = js_sys::global();
    if !path(&global, &["Hls"]).is_undefined() {
        return Ok(());
    }
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let script = document
        .create_element("script")
        .map_err(|_| "cannot make a script element")?;
    let _ = script.set_attribute("src", HLS_PATH);
    let done = js_sys::Promise::new(&mut |resolve, reject| {
        let _ = script.add_event_listener_with_callback("load", &resolve);
        let _ = script.add_event_listener_with_callback("error", &reject);
    });
    document
        .head()
        .ok_or("no head")?
        .append_child(&script)
        .map_err(|_| "cannot add the script")?;
    JsFuture::from(done)
        .await
        .map_err(|_| format!("hls.js did not load from {HLS_PATH}"))?;
    Ok(())
}

/// Event handlers kept alive while the player runs.
type Handler = Closure<dyn FnMut(JsValue, JsValue)>;
type ElementHandler = Closure<dyn FnMut()>;

/// A running hls.js player; [`HlsPeer::stop`] (or dropping it) destroys it.
pub struct HlsPeer {
    hls: Hls,
    video: HtmlVideoElement,
    _handlers: Vec<Handler>,
    element: Vec<(&'static str, ElementHandler)>,
    timer: Option<gloo_timers::callback::Interval>,
}

impl HlsPeer {
    /// Stops playback and releases the element.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.timer = None;
        self.hls.destroy();
        for (name, h) in self.element.drain(..) {
            let _ = self
                .video
                .remove_event_listener_with_callback(name, h.as_ref().unchecked_ref());
        }
        self.video.remove_attribute("src").ok();
        self.video.load();
    }
}

impl Drop for HlsPeer {
    fn drop(&mut self) {
        if self.timer.is_some() {
            self.shutdown();
        }
    }
}

/// The node index of a segment URL `…/watch/hls/{node}/segments/…`.
fn node_of(url: &str) -> Option<usize> {
    let rest = &url[url.find("/watch/hls/")? + "/watch/hls/".len()..];
    rest.split('/').next()?.parse().ok()
}

/// hls.js's own events into `out`: which node served each segment, the
/// level (bitrate, pathway) and its switches, steering manifests, errors.
fn hls_handlers(hls: &Hls, out: RwSignal<PeerFigures>) -> Vec<Handler> {
    let mut handlers: Vec<Handler> = Vec::new();
    let mut on = |event: &str, f: Box<dyn FnMut(JsValue, JsValue)>| {
        let c = Closure::wrap(f);
        hls.on(event, c.as_ref().unchecked_ref());
        handlers.push(c);
    };
    on(
        "hlsFragLoaded",
        Box::new(move |_, data| {
            let url = path(&data, &["frag", "url"])
                .as_string()
                .unwrap_or_default();
            let bytes = path(&data, &["frag", "stats", "total"])
                .as_f64()
                .unwrap_or(0.0);
            if let Some(n) = node_of(&url) {
                out.update(|f| {
                    f.last_node = Some(n);
                    let e = f.by_node.entry(n).or_insert((0, 0));
                    e.0 += 1;
                    e.1 += bytes as u64;
                });
            }
        }),
    );
    let hls_value = AsRef::<JsValue>::as_ref(hls).clone();
    on(
        "hlsLevelSwitched",
        Box::new(move |_, data| {
            let Some(i) = path(&data, &["level"]).as_f64() else {
                return;
            };
            let level = js_sys::Reflect::get(&path(&hls_value, &["levels"]), &JsValue::from_f64(i))
                .unwrap_or(JsValue::UNDEFINED);
            let kbps = path(&level, &["bitrate"]).as_f64().map(|b| b / 1e3);
            let pathway = path(&level, &["pathwayId"]).as_string();
            out.update(|f| {
                if f.level_kbps.is_some() && f.level_kbps != kbps {
                    f.switches += 1;
                }
                f.level_kbps = kbps;
                f.pathway = pathway.filter(|p| p != ".");
            });
        }),
    );
    let levels_of = AsRef::<JsValue>::as_ref(hls).clone();
    on(
        "hlsFragChanged",
        Box::new(move |_, data| {
            let Some(i) = path(&data, &["frag", "level"]).as_f64() else {
                return;
            };
            let level = js_sys::Reflect::get(&path(&levels_of, &["levels"]), &JsValue::from_f64(i))
                .unwrap_or(JsValue::UNDEFINED);
            let kbps = path(&level, &["bitrate"]).as_f64().map(|b| b / 1e3);
            out.update(|f| f.playing_kbps = kbps);
        }),
    );
    on(
        "hlsSteeringManifestLoaded",
        Box::new(move |_, data| {
            let p = path(&data, &["steeringManifest", "PATHWAY-PRIORITY"]);
            let list: Vec<String> = js_sys::Array::from(&p)
                .iter()
                .filter_map(|v| v.as_string())
                .collect();
            out.update(|f| {
                f.steering_reloads += 1;
                f.priority = Some(list.join(" > "));
            });
        }),
    );
    on(
        "hlsError",
        Box::new(move |_, data| {
            let details = path(&data, &["details"]).as_string().unwrap_or_default();
            let fatal = path(&data, &["fatal"]).as_bool().unwrap_or(false);
            out.update(|f| {
                f.errors += 1;
                if fatal {
                    f.fatal = Some(details);
                }
            });
        }),
    );

    handlers
}

/// The `<video>` element's `playing` and `waiting` events into `out`:
/// startup from `pressed_ms` (page time), then stalls.
fn element_handlers(
    video: &HtmlVideoElement,
    out: RwSignal<PeerFigures>,
    pressed_ms: f64,
) -> Vec<(&'static str, ElementHandler)> {
    let stall_since: Rc<RefCell<Option<f64>>> = Rc::new(RefCell::new(None));
    let mut element: Vec<(&'static str, ElementHandler)> = Vec::new();
    let since = stall_since.clone();
    element.push((
        "playing",
        Closure::wrap(Box::new(move || {
            let now = crate::watch_browser::now().as_secs_f64() * 1e3;
            out.update(|f| {
                if f.startup_ms.is_none() {
                    f.startup_ms = Some(now - pressed_ms);
                } else if let Some(s) = since.borrow_mut().take() {
                    f.stall_ms += now - s;
                }
            });
        }) as Box<dyn FnMut()>),
    ));
    let since = stall_since.clone();
    element.push((
        "waiting",
        Closure::wrap(Box::new(move || {
            let now = crate::watch_browser::now().as_secs_f64() * 1e3;
            out.update(|f| {
                if f.startup_ms.is_some() && since.borrow().is_none() {
                    *since.borrow_mut() = Some(now);
                    f.stalls += 1;
                }
            });
        }) as Box<dyn FnMut()>),
    ));
    for (name, h) in &element {
        let _ = video.add_event_listener_with_callback(name, h.as_ref().unchecked_ref());
    }
    element
}

/// Starts hls.js on `video` from `origin` (a node index, `pathways` or
/// `steering`) as a fresh viewer, writing its figures to `out` from the
/// moment play is pressed (`pressed_ms`, page time).
///
/// # Errors
/// hls.js missing or unsupported here (no Media Source Extensions).
pub async fn start(
    video: HtmlVideoElement,
    origin: &str,
    out: RwSignal<PeerFigures>,
) -> Result<HlsPeer, String> {
    let pressed_ms = crate::watch_browser::now().as_secs_f64() * 1e3;
    load_hls().await?;
    if !Hls::is_supported() {
        return Err("hls.js cannot play here: no Media Source Extensions".into());
    }
    let viewer = crate::watch_browser::viewer_id();
    let config = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&config, &"enableWorker".into(), &JsValue::FALSE);
    let hls = Hls::new(&config);
    out.set(PeerFigures {
        origin: origin.to_string(),
        ..PeerFigures::default()
    });
    let handlers = hls_handlers(&hls, out);
    let element = element_handlers(&video, out, pressed_ms);
    let v = video.clone();
    let timer = gloo_timers::callback::Interval::new(250, move || {
        let q = v.get_video_playback_quality();
        out.update(|f| {
            f.position_s = v.current_time();
            f.frames = q.total_video_frames();
        });
    });
    hls.load_source(&format!(
        "/watch/hls/main.m3u8?viewer={viewer}&origin={origin}"
    ));
    hls.attach_media(&video);
    video.set_muted(true);
    let _ = video.play();
    Ok(HlsPeer {
        hls,
        video,
        _handlers: handlers,
        element,
        timer: Some(timer),
    })
}
