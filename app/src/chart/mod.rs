//! The dashboard's charts: [`EChart`], a leptos wrapper around an ECharts
//! instance fed by chart options as JSON; [`LiveChart`], the one wrapper
//! every live tab uses (a chart of the live snapshot, or a note while there
//! is no data); [`style`], the frame, axes and lines they share; [`alerts`],
//! the alert shading.
//!
//! [`EChart`] renders an empty `<div>` on the server. In the browser an effect
//! builds the [`ChartOption`] from reactive data, creates the ECharts instance
//! on first run and afterwards calls `setOption` on the same instance, so a chart
//! updates in place (no re-creation, no flicker). The instance follows window
//! resizes and is disposed when the component unmounts.
//!
//! ECharts itself loads on demand: the first chart to mount adds a
//! `<script>` for [`crate::ECHARTS_PATH`] (built by `scripts/setup.sh` from
//! the npm package) to the page, and every chart retries until it is there.
//! The page shell does not load it, so the Overview (sparklines only) never
//! downloads it.
//!
//! Options cross into JavaScript as JSON text (`JSON.parse`), not through
//! charming's WASM renderer: its `serde_wasm_bindgen` path kept the
//! serialiser of charming's whole `Chart` tree (~174 KB of code before
//! `wasm-opt`) in the first-load WASM. The tabs build their charts with
//! charming ([`ChartOption::from_chart`], in their own lazy chunks).

pub mod alerts;
pub mod style;

use leptos::prelude::*;

use crate::{feed::use_live_feed, wire::DashboardSnapshot};

/// An ECharts option object as JSON text, handed to `setOption`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartOption(String);

impl ChartOption {
    /// The option charming's `chart` describes (serde_json of it, the same
    /// object charming's own renderers hand ECharts).
    pub fn from_chart(chart: &charming::Chart) -> Self {
        // A `Chart` is plain data (strings, numbers, enums); serde_json has no
        // way to fail on it but non-string map keys, which charming never has.
        Self(serde_json::to_string(chart).unwrap_or_else(|_| "{}".to_owned()))
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }
}

/// A chart that re-renders in place whenever a signal read by `option` changes.
///
/// - `id`: DOM id of the chart container; must be unique on the page.
/// - `option`: returns the full chart; runs only in the browser.
///
/// The container's size comes from CSS (class `chart`).
#[component]
pub fn EChart<F>(#[prop(into)] id: String, option: F) -> impl IntoView
where
    F: Fn() -> charming::Chart + Send + Sync + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsValue;

        let instance: StoredValue<Option<JsValue>, LocalStorage> = StoredValue::new_local(None);
        let dom_id = id.clone();
        // A chart whose option never changes (a run page's) gets no second
        // chance from its data: until ECharts has loaded and the container is
        // in the document, retry every 100 ms (for 90 s at most: ECharts is
        // 150 KB brotli, ~1 s on a 1.4 Mbit/s link, far longer on a bad one).
        let retry = RwSignal::new(0u32);
        Effect::new(move |_| {
            let attempt = retry.get();
            let option = ChartOption::from_chart(&option());
            let drawn = instance
                .try_update_value(|slot| {
                    if slot.is_none() {
                        *slot = js::init(&dom_id);
                    }
                    match slot {
                        Some(echarts) => js::set_option(echarts, &option),
                        None => false,
                    }
                })
                .unwrap_or(false);
            if !drawn && attempt < 900 {
                set_timeout(
                    move || {
                        let _ = retry.try_update(|n| *n += 1);
                    },
                    std::time::Duration::from_millis(100),
                );
            }
        });
        let resize = window_event_listener(leptos::ev::resize, move |_| {
            instance.with_value(|slot| {
                if let Some(echarts) = slot {
                    js::call(echarts, "resize", &JsValue::UNDEFINED);
                }
            })
        });
        on_cleanup(move || {
            resize.remove();
            instance.try_update_value(|slot| {
                if let Some(echarts) = slot.take() {
                    js::call(&echarts, "dispose", &JsValue::UNDEFINED);
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = option;

    view! { <div id=id class="chart" role="img"></div> }
}

/// The calls into the page's `echarts` global (`init`, `setOption`,
/// `resize`, `dispose`), by reflection.
#[cfg(feature = "hydrate")]
mod js {
    use super::ChartOption;
    use js_sys::{Function, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    /// Id of the `<script>` element that loads ECharts.
    const SCRIPT_ID: &str = "echarts-script";

    /// `echarts.init(document.getElementById(id))`: `None` until ECharts has
    /// loaded and the container is in the document. The first call adds the
    /// `<script>` that loads ECharts.
    pub fn init(id: &str) -> Option<JsValue> {
        let document = web_sys::window()?.document()?;
        let echarts = Reflect::get(&js_sys::global(), &JsValue::from_str("echarts")).ok()?;
        if echarts.is_undefined() {
            if document.get_element_by_id(SCRIPT_ID).is_none() {
                load_script(&document);
            }
            return None;
        }
        let el = document.get_element_by_id(id)?;
        let init = Reflect::get(&echarts, &JsValue::from_str("init"))
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        init.call1(&echarts, &el).ok()
    }

    /// Appends `<script id="echarts-script" src="/vendor/echarts.min.js"
    /// async>` to the document's `<head>`.
    fn load_script(document: &web_sys::Document) {
        let Ok(script) = document.create_element("script") else {
            return;
        };
        let _ = script.set_attribute("id", SCRIPT_ID);
        let _ = script.set_attribute("src", crate::ECHARTS_PATH);
        let _ = script.set_attribute("async", "");
        if let Some(head) = document.head() {
            let _ = head.append_child(&script);
        }
    }

    /// `instance.setOption(JSON.parse(option))`; false when either fails.
    pub fn set_option(instance: &JsValue, option: &ChartOption) -> bool {
        match js_sys::JSON::parse(option.as_json()) {
            Ok(value) => call(instance, "setOption", &value),
            Err(_) => false,
        }
    }

    /// `this[method](arg)`; false when there is no such method or it threw.
    pub fn call(this: &JsValue, method: &str, arg: &JsValue) -> bool {
        Reflect::get(this, &JsValue::from_str(method))
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .is_some_and(|f| f.call1(this, arg).is_ok())
    }
}

/// A chart of the live snapshot that `make` draws, updated with every
/// snapshot change, or `empty` (a muted note) while there is no snapshot or
/// `has_data` says it holds nothing to draw yet.
///
/// Defaults: `has_data` is "the collector's history has a sample";
/// `empty` says the first metrics sample arrives within one collector
/// interval.
#[component]
pub fn LiveChart(
    id: &'static str,
    make: fn(&DashboardSnapshot) -> charming::Chart,
    #[prop(default = |e| !e.history.is_empty())] has_data: fn(&DashboardSnapshot) -> bool,
    #[prop(
        default = "No data yet: the first metrics sample arrives within one collector interval."
    )]
    empty: &'static str,
) -> impl IntoView {
    let feed = use_live_feed();
    view! {
        {move || feed.engine.with(|e| e.as_ref().is_none_or(|e| !has_data(e)))
            .then(|| view! { <p class="muted chart-empty">{empty}</p> })}
        <EChart id=id option=move || feed.engine.with(|e| e.as_ref().map(make).unwrap_or_else(charming::Chart::new))/>
    }
}
