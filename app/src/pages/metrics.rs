//! Performance Metrics tab (`/metrics`): buffer-level history, node score trends,
//! throughput history and node utilisation once the client engine is attached.

use leptos::prelude::*;

use super::{Card, NoEngineYet};

/// The Performance Metrics tab.
#[component]
pub fn MetricsPage() -> impl IntoView {
    view! {
        <div class="page-grid">
            <Card title="Performance metrics">
                <NoEngineYet what="Buffer-level history with target and low-water lines, node score trends, throughput history and load distribution, sampled every 2 s from the live client."/>
            </Card>
        </div>
    }
}
