//! Smart vs Naive tab (`/compare`): the smart client and the round-robin client
//! measured side by side on identical conditions once both engines run.

use leptos::prelude::*;

use super::{Card, NoEngineYet};

/// The Smart vs Naive tab.
#[component]
pub fn ComparePage() -> impl IntoView {
    view! {
        <div class="page-grid">
            <Card title="Smart vs naive">
                <NoEngineYet what="Startup latency, rebuffering, throughput and buffer health of the smart and the naive client, both measured on twin clusters under the same conditions."/>
            </Card>
        </div>
    }
}
