//! The WASM entry point of the dashboard.
//!
//! The server renders every page with leptos SSR; this crate is compiled to
//! `pkg/vstack.wasm` by `cargo leptos` and its exported `hydrate` function attaches
//! the reactive graph of [`app::App`] to that markup. On the host this crate is empty
//! so the workspace's host builds and tests never compile the browser side.
//!
//! The recursion limit: leptos views are deeply nested types, and the release
//! (LTO) build of the Overview tab needs more than the default 128.

#![recursion_limit = "512"]

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Async hydration: a lazy route's chunk loads before its markup hydrates.
    leptos::mount::hydrate_lazy(app::App);
}
