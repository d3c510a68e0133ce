//! The latency chart beside the report: p50 and p99 of `GET /api/alerts/active` against
//! concurrency, as SVG.

use std::fmt::Write as _;

use crate::results::Results;
use crate::routes::RouteResult;

/// The chart of the active-alerts routes' latency in `results`.
pub(crate) fn plot(results: &Results) -> String {
    let series: Vec<(&str, &RouteResult)> = results
        .routes
        .iter()
        .filter(|r| r.route.starts_with("GET /api/alerts/active"))
        .map(|r| (r.route.as_str(), r))
        .collect();
    let max_ms = series
        .iter()
        .flat_map(|(_, r)| r.http.iter().map(|s| s.p99_ms))
        .fold(0.1f64, f64::max)
        * 1.1;
    let levels: Vec<usize> = series
        .first()
        .map(|(_, r)| r.http.iter().map(|s| s.concurrency).collect())
        .unwrap_or_default();
    let (width, height, left, bottom) = (640.0, 360.0, 60.0, 40.0);
    let x = |i: usize| left + (width - left - 20.0) * i as f64 / (levels.len().max(2) - 1) as f64;
    let y = |ms: f64| height - bottom - (height - bottom - 20.0) * ms / max_ms;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/><text x="{left}" y="14">GET /api/alerts/active: latency (ms) against concurrency ({} data set)</text>"##,
        results.scale.name
    );
    for (i, level) in levels.iter().enumerate() {
        let _ = write!(
            svg,
            r##"<text x="{:.0}" y="{:.0}" text-anchor="middle">{level}</text>"##,
            x(i),
            height - 20.0
        );
    }
    for tick in 0..=4 {
        let ms = max_ms * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{:.0}" y="{:.0}" text-anchor="end">{ms:.2}</text><line x1="{left}" x2="{}" y1="{:.0}" y2="{:.0}" stroke="#eee"/>"##,
            left - 6.0,
            y(ms) + 4.0,
            width - 20.0,
            y(ms),
            y(ms)
        );
    }
    let colours = ["#1f77b4", "#d62728"];
    for (index, (name, route)) in series.iter().enumerate() {
        for (metric, dash) in [("p50", ""), ("p99", "4 3")] {
            let points: Vec<String> = route
                .http
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "{:.1},{:.1}",
                        x(i),
                        y(if metric == "p50" { s.p50_ms } else { s.p99_ms })
                    )
                })
                .collect();
            let _ = write!(
                svg,
                r##"<polyline fill="none" stroke="{}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"##,
                colours[index % 2],
                points.join(" ")
            );
        }
        let label = name.trim_start_matches("GET /api/alerts/active ");
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" fill="{}">{label}: p50 solid, p99 dashed</text>"##,
            left + 10.0,
            34 + 16 * index,
            colours[index % 2]
        );
    }
    svg.push_str("</svg>\n");
    svg
}
