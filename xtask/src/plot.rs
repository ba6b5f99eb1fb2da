//! SVG line plots, one per (workload, metric): value against threads, a line per
//! implementation, written beside the suite's markdown.

use crate::bench::{Row, Suite};
use crate::report::{self, Context};
use plotters::prelude::*;
use std::path::Path;

/// Writes every plot of a suite into `dir`; returns the file of each (workload, metric)
/// relative to `docs/benchmarks/`.
pub fn write_all(
    suite: &Suite,
    name: &str,
    rows: &[&Row],
    dir: &Path,
    ctx: &Context,
) -> Result<report::Plots, String> {
    let mut out = report::Plots::new();
    let impls = report::impl_order(rows);
    for (workload, metric) in report::tables(rows) {
        let sel: Vec<&Row> = rows
            .iter()
            .copied()
            .filter(|r| r.workload == workload && r.metric == metric)
            .collect();
        let threads: Vec<usize> = {
            let mut t: Vec<usize> = sel.iter().map(|r| r.threads).collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        if threads.len() < 2 {
            continue; // a single point is a table cell, not a plot
        }
        let file = format!("{workload}-{metric}.svg");
        let path = dir.join(&file);
        draw(
            &path, suite, &workload, &metric, &sel, &impls, &threads, ctx,
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        out.insert((workload, metric), format!("{name}/{file}"));
    }
    cdf_plots(suite, name, rows, dir, &impls, &mut out)?;
    Ok(out)
}

/// The latency percentiles a CDF plot shows, with their labels.
const PERCENTILES: [(&str, &str); 4] = [
    ("p50_ns", "p50"),
    ("p99_ns", "p99"),
    ("p999_ns", "p99.9"),
    ("p9999_ns", "p99.99"),
];

/// One latency plot per (workload, thread count) that reports all of [`PERCENTILES`]:
/// the latency (log scale, the timer counted) at each percentile, a line per impl; the
/// tail of the distribution read left to right. Registered under the metric
/// `latency_cdf_t{threads}`.
fn cdf_plots(
    suite: &Suite,
    name: &str,
    rows: &[&Row],
    dir: &Path,
    impls: &[String],
    out: &mut report::Plots,
) -> Result<(), String> {
    let workloads: Vec<String> = report::tables(rows)
        .into_iter()
        .filter(|(_, m)| m == "p9999_ns")
        .map(|(w, _)| w)
        .collect();
    for w in workloads {
        let mut threads: Vec<usize> = rows
            .iter()
            .filter(|r| r.workload == w)
            .map(|r| r.threads)
            .collect();
        threads.sort_unstable();
        threads.dedup();
        for t in threads {
            let sel: Vec<&Row> = rows
                .iter()
                .copied()
                .filter(|r| r.workload == w && r.threads == t)
                .collect();
            let file = format!("{w}-latency-t{t}.svg");
            let path = dir.join(&file);
            draw_cdf(&path, suite, &w, t, &sel, impls)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            out.insert(
                (w.clone(), format!("latency_cdf_t{t}")),
                format!("{name}/{file}"),
            );
        }
    }
    Ok(())
}

fn draw_cdf(
    path: &Path,
    suite: &Suite,
    workload: &str,
    threads: usize,
    rows: &[&Row],
    impls: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let value = |imp: &str, m: &str| {
        rows.iter()
            .find(|r| r.imp == imp && r.metric == m)
            .map(|r| r.value)
    };
    let all: Vec<f64> = rows
        .iter()
        .filter(|r| PERCENTILES.iter().any(|(m, _)| *m == r.metric))
        .map(|r| r.value)
        .filter(|v| *v > 0.0)
        .collect();
    let ymin = all.iter().copied().fold(f64::INFINITY, f64::min).max(0.1) * 0.8;
    let ymax = all.iter().copied().fold(0.0f64, f64::max).max(ymin * 2.0) * 1.25;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "{} / {workload}: latency by percentile, {threads} thread(s), timer counted",
        suite.name
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.3f64..3.3f64, (ymin..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ns (log)")
        .y_label_formatter(&|v| report::human(*v))
        .x_labels(PERCENTILES.len())
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < PERCENTILES.len() {
                PERCENTILES[i as usize].1.to_string()
            } else {
                String::new()
            }
        })
        .draw()?;
    for (k, imp) in impls.iter().enumerate() {
        let pts: Vec<(f64, f64)> = PERCENTILES
            .iter()
            .enumerate()
            .filter_map(|(i, (m, _))| value(imp, m).map(|v| (i as f64, v.max(ymin))))
            .collect();
        if pts.len() < PERCENTILES.len() {
            continue;
        }
        let color = PALETTE[k % PALETTE.len()].to_rgba();
        let width = if report::is_ebb(imp) { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?
            .label(imp.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Distinct, print-safe line colours; ebb's lines are also drawn thicker.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

#[allow(clippy::too_many_arguments)]
fn draw(
    path: &Path,
    suite: &Suite,
    workload: &str,
    metric: &str,
    rows: &[&Row],
    impls: &[String],
    threads: &[usize],
    ctx: &Context,
) -> Result<(), Box<dyn std::error::Error>> {
    let unit = rows.first().map(|r| r.unit.as_str()).unwrap_or("");
    let ymax = rows.iter().map(|r| r.max).fold(0.0f64, f64::max) * 1.1;
    // Thread counts sit at evenly spaced positions (1, 2, 4, 8 read as a log scale).
    let pos = |t: usize| threads.iter().position(|&x| x == t).unwrap_or(0) as f64;
    let last = (threads.len() - 1) as f64;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("{} / {workload}: {metric} ({unit})", suite.name);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.3f64..(last + 0.3), 0.0f64..ymax.max(f64::MIN_POSITIVE))?;
    chart
        .configure_mesh()
        .x_desc(format!("threads (> {} oversubscribed)", ctx.machine.cores))
        .y_desc(unit)
        .y_label_formatter(&|v| report::human(*v))
        .x_labels(threads.len())
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < threads.len() {
                threads[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .draw()?;
    for (k, imp) in impls.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| &r.imp == imp)
            .map(|r| (pos(r.threads), r.value))
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = PALETTE[k % PALETTE.len()].to_rgba();
        let width = if report::is_ebb(imp) { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?
            .label(imp.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
