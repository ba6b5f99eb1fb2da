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
    let xmax = *threads.last().expect("at least two thread counts");
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!("{} / {workload}: {metric} ({unit})", suite.name);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .build_cartesian_2d(
            0.5f64..(xmax as f64 + 0.5),
            0.0f64..ymax.max(f64::MIN_POSITIVE),
        )?;
    chart
        .configure_mesh()
        .x_desc(format!("threads (> {} oversubscribed)", ctx.machine.cores))
        .y_desc(unit)
        .y_label_formatter(&|v| report::human(*v))
        .x_labels(threads.len().max(2))
        .draw()?;
    for (k, imp) in impls.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| &r.imp == imp)
            .map(|r| (r.threads as f64, r.value))
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = Palette99::pick(k).to_rgba();
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
