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
        out.insert((workload, metric), format!("{}/{file}", suite.name));
    }
    Ok(out)
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
