//! The demo panel (Overview tab): starts the seed's demo on the dashboard's own
//! clusters (the `start_demo` control) and shows it as it runs: the phase in
//! progress with its narration and progress, each finished phase's measured
//! figures for both clients, the chaos phase's failures and the key findings.
//! Everything comes from [`crate::wire::DemoStatus`] in the live feed.

use leptos::prelude::*;

use super::engine::send_control;
use crate::{
    feed::use_live_feed,
    wire::{Control, DemoStatus, PhaseFigures},
};

fn cells(f: Option<&PhaseFigures>) -> [String; 4] {
    match f {
        Some(f) => [
            f.chunks.to_string(),
            if f.rebuffers == 0 {
                "0".into()
            } else {
                format!("{} · {:.1} s", f.rebuffers, f.stall_ms / 1e3)
            },
            f.failovers.to_string(),
            format!("{:.1}", f.goodput_mbps),
        ],
        None => Default::default(),
    }
}

fn state_line(d: &DemoStatus) -> String {
    match d.current {
        Some(i) if d.running => format!(
            "Phase {} of {}: {}",
            i + 1,
            d.phases.len(),
            d.phases[i].name
        ),
        _ if d.running => "Starting: both clients restart…".into(),
        _ => "Finished".into(),
    }
}

/// The demo panel.
#[component]
pub fn DemoPanel() -> impl IntoView {
    let feed = use_live_feed();
    let status = RwSignal::new(String::new());
    let phase_s = RwSignal::new(30u64);
    let demo = move || {
        feed.engine
            .with(|e| e.as_ref().and_then(|e| e.demo.clone()))
    };
    let progress = move || {
        let d = demo()?;
        d.current?;
        let now = feed.latest.get()?.uptime_ms;
        let done = now.saturating_sub(d.phase_started_uptime_ms) as f64;
        Some((done / d.phase_wall_ms.max(1) as f64).clamp(0.0, 1.0))
    };
    view! {
        <crate::access::AdminGate>
        <div class="control-row">
            <label class="small">"media s per phase "
                <input type="number" min="10" max="600" step="5" class="num" data-testid="demo-phase-s"
                    prop:value=move || phase_s.get().to_string()
                    on:change=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<u64>() {
                            phase_s.set(v);
                        }
                    }/>
            </label>
            <button class="btn" data-testid="demo-start" on:click=move |_| {
                send_control(Control::StartDemo { phase_s: phase_s.get_untracked() }, status)
            }>"Run the demo"</button>
            <button class="btn" data-testid="demo-stop" on:click=move |_| send_control(Control::StopDemo, status)>
                "Stop"
            </button>
        </div>
        </crate::access::AdminGate>
        <p class="muted small" data-testid="demo-msg">{move || status.get()}</p>
        {move || match demo() {
            None => view! {
                <p class="muted" data-testid="demo-idle">
                    "The seed's demo on these clusters: normal → +200 ms latency → 3 Mbit/s → 10 % loss → node-1 down → recovery → chaos → node-3 lost for good while adaptive redundancy repairs (8 phases). Both clients restart; each phase's conditions are stated as it starts, and what each client did is measured at its end. Watch the clients above while it runs."
                </p>
            }.into_any(),
            Some(d) => {
                let current = d.current;
                let narration = current.map(|i| d.phases[i].narration.clone());
                view! {
                    <p class="demo-state" data-testid="demo-state" data-running=d.running.to_string()>
                        <strong>{state_line(&d)}</strong>
                        {format!(" · {} s per phase at ×{:.0}", d.phase_s, d.phase_s as f64 * 1000.0 / d.phase_wall_ms.max(1) as f64)}
                    </p>
                    {narration.map(|n| view! { <p class="narration" data-testid="demo-narration">{n}</p> })}
                    {move || progress().map(|p| view! {
                        <progress class="demo-progress" max="1" value=p.to_string()></progress>
                    })}
                    <div class="table-scroll">
                        <table class="cmp" data-testid="demo-phases">
                            <thead>
                                <tr><th rowspan="2">"phase"</th><th colspan="4">"smart"</th><th colspan="4">"naive"</th></tr>
                                <tr>
                                    <th>"chunks"</th><th>"stalls"</th><th>"failovers"</th><th>"Mbit/s"</th>
                                    <th>"chunks"</th><th>"stalls"</th><th>"failovers"</th><th>"Mbit/s"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {d.phases.iter().enumerate().map(|(i, p)| {
                                    let class = if Some(i) == current { "current" } else if p.smart.is_none() { "pending" } else { "" };
                                    let [a, b, c, e] = cells(p.smart.as_ref());
                                    let [f, g, h, k] = cells(p.naive.as_ref());
                                    view! {
                                        <tr class=class data-phase=p.name.clone()>
                                            <td>{p.name.clone()}</td>
                                            <td>{a}</td><td>{b}</td><td>{c}</td><td>{e}</td>
                                            <td>{f}</td><td>{g}</td><td>{h}</td><td>{k}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <ul class="small" data-testid="demo-measured">
                        {d.phases.iter().filter_map(|p| p.measured.clone().map(|m| (p.name.clone(), m))).map(|(name, m)| view! {
                            <li><strong>{name}</strong>{format!(": {m}")}</li>
                        }).collect_view()}
                    </ul>
                    {(!d.events.is_empty()).then(|| view! {
                        <p class="muted small" data-testid="demo-events">{format!("chaos: {}", d.events.join(" · "))}</p>
                    })}
                    {(!d.findings.is_empty()).then(|| view! {
                        <h3>"Key findings (measured in this run)"</h3>
                        <ul data-testid="demo-findings">
                            {d.findings.iter().map(|f| view! { <li>{f.clone()}</li> }).collect_view()}
                        </ul>
                    })}
                    {d.run_id.clone().map(|id| view! {
                        <p><a href=format!("/runs/{id}") data-testid="demo-run-link">"This demo's permalink (tables, charts, machine)"</a></p>
                    })}
                }.into_any()
            }
        }}
    }
}
