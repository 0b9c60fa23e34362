//! The look every dashboard chart shares: the frame (no animation, axis
//! tooltip, legend below, margins), axes over server uptime or wall-clock
//! time, solid and dashed lines, and each client's colour.

use charming::{
    Chart,
    component::{Axis, Grid, Legend},
    element::{
        AxisType, ItemStyle, LineStyle, LineStyleType, NameLocation, SplitLine, TextStyle, Tooltip,
        Trigger,
    },
    series::Line,
};

use crate::wire::ClientKind;

/// A grey readable on light and dark backgrounds (legend text).
pub const MUTED: &str = "#8a91ab";

/// Grid lines faint enough for light and dark backgrounds.
pub fn faint() -> SplitLine {
    SplitLine::new().line_style(LineStyle::new().color("rgba(128, 128, 128, 0.25)"))
}

/// The frame every engine chart shares: no animation (updates in place),
/// axis tooltip, legend below, fixed margins.
pub fn frame() -> Chart {
    framed("24")
}

/// [`frame`] with `right` px of right margin (room for a second value axis).
pub fn framed(right: &str) -> Chart {
    Chart::new()
        .animation(false)
        .tooltip(Tooltip::new().trigger(Trigger::Axis))
        .legend(
            Legend::new()
                .bottom("0")
                .text_style(TextStyle::new().color(MUTED)),
        )
        .grid(Grid::new().left("56").right(right).top("36").bottom("64"))
}

/// A chart over server uptime (s) with one value axis named `y_name`.
pub fn base(y_name: &str) -> Chart {
    base_framed(y_name, "24")
}

/// [`base`] with `right` px of right margin (room for a second value axis).
pub fn base_framed(y_name: &str, right: &str) -> Chart {
    framed(right)
        .x_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name("server uptime (s)")
                .name_location(NameLocation::Middle)
                .name_gap(26)
                .scale(true)
                .split_line(faint()),
        )
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name(y_name)
                .split_line(faint()),
        )
}

/// A solid line without symbols in `color`.
pub fn solid(name: &str, color: &str, points: Vec<Vec<f64>>) -> Line {
    Line::new()
        .name(name)
        .show_symbol(false)
        .item_style(ItemStyle::new().color(color))
        .data(points)
}

/// A dashed line without symbols in `color` (targets, caps, thresholds).
pub fn dashed(name: &str, color: &str, points: Vec<Vec<f64>>) -> Line {
    Line::new()
        .name(name)
        .show_symbol(false)
        .line_style(LineStyle::new().type_(LineStyleType::Dashed).color(color))
        .item_style(ItemStyle::new().color(color))
        .data(points)
}

/// A chart over wall-clock time (ECharts time axis, ms).
pub fn time_base(y_name: &str) -> Chart {
    frame()
        .x_axis(Axis::new().type_(AxisType::Time).split_line(faint()))
        .y_axis(
            Axis::new()
                .type_(AxisType::Value)
                .name(y_name)
                .split_line(faint()),
        )
}

/// Each client's colour in the charts.
pub fn client_color(kind: ClientKind) -> &'static str {
    match kind {
        ClientKind::Smart => "#667eea",
        ClientKind::Naive => "#ed8936",
    }
}
