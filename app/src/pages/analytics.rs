//! Analytics tab (`/analytics`): system health, targets against measured values,
//! load distribution and history export once the client engine is attached.

use leptos::prelude::*;

use super::{Card, NoEngineYet};

/// The Analytics tab.
#[component]
pub fn AnalyticsPage() -> impl IntoView {
    view! {
        <div class="page-grid">
            <Card title="Analytics">
                <NoEngineYet what="Uptime, data transferred, download times, failover rate, each performance target against its measured value, and CSV / JSON export of the history."/>
            </Card>
        </div>
    }
}
