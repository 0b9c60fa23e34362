//! A leptos wrapper around an ECharts instance, fed by charming chart options.
//!
//! [`EChart`] renders an empty `<div>` on the server. In the browser an effect
//! builds the [`charming::Chart`] from reactive data, creates the ECharts instance
//! on first run and afterwards calls `setOption` on the same instance, so a chart
//! updates in place (no re-creation, no flicker). The instance follows window
//! resizes and is disposed when the component unmounts. ECharts itself is loaded
//! by the page shell from `/vendor/echarts.min.js` (installed by `scripts/setup.sh`
//! from the npm package); until it is present the effect simply waits for the next
//! data change.

use charming::Chart;
use leptos::prelude::*;

/// A chart that re-renders in place whenever a signal read by `option` changes.
///
/// - `id`: DOM id of the chart container; must be unique on the page.
/// - `option`: returns the full chart option; runs only in the browser.
///
/// The container's size comes from CSS (class `chart`).
#[component]
pub fn EChart<F>(#[prop(into)] id: String, option: F) -> impl IntoView
where
    F: Fn() -> Chart + Send + Sync + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        use charming::{WasmRenderer, renderer::Echarts};
        use wasm_bindgen::JsValue;

        let instance: StoredValue<Option<Echarts>> = StoredValue::new(None);
        let dom_id = id.clone();
        // A chart whose option never changes (a run page's) gets no second
        // chance from its data: until ECharts has loaded and the container is
        // in the document, retry every 100 ms (for 30 s at most).
        let retry = RwSignal::new(0u32);
        Effect::new(move |_| {
            let attempt = retry.get();
            let chart = option();
            let drawn = echarts_loaded()
                && instance
                    .try_update_value(|slot| {
                        match slot {
                            Some(echarts) => WasmRenderer::update(echarts, &chart),
                            None => {
                                *slot = WasmRenderer::new_opt(None, None)
                                    .render(&dom_id, &chart)
                                    .ok()
                            }
                        }
                        slot.is_some()
                    })
                    .unwrap_or(false);
            if !drawn && attempt < 300 {
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
                    echarts.resize(JsValue::UNDEFINED);
                }
            })
        });
        on_cleanup(move || {
            resize.remove();
            instance.try_update_value(|slot| {
                if let Some(echarts) = slot.take() {
                    dispose(&echarts);
                }
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = option;

    view! { <div id=id class="chart" role="img"></div> }
}

/// `echarts.dispose()`; charming 0.6 does not bind it.
#[cfg(feature = "hydrate")]
fn dispose(echarts: &charming::renderer::Echarts) {
    use wasm_bindgen::{JsCast, JsValue};
    let this: &JsValue = echarts.as_ref();
    if let Ok(f) = js_sys::Reflect::get(this, &JsValue::from_str("dispose"))
        && let Some(f) = f.dyn_ref::<js_sys::Function>()
    {
        let _ = f.call0(this);
    }
}

/// True once the page's `echarts` global exists.
#[cfg(feature = "hydrate")]
fn echarts_loaded() -> bool {
    js_sys::Reflect::has(
        &js_sys::global(),
        &wasm_bindgen::JsValue::from_str("echarts"),
    )
    .unwrap_or(false)
}
