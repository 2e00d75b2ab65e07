//! SVG plots of a report: the latency distribution (as a percentile spectrum, so the
//! tail is visible) and delivered messages per second over time.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::hist::Histogram;
use super::report::Report;

/// `out.svg` with scenario `busy-room` gives `out-busy-room.svg`.
pub fn path_for(p: &Path, scenario: &str) -> PathBuf {
    let stem = p
        .file_stem()
        .map_or("bench".into(), |s| s.to_string_lossy());
    p.with_file_name(format!("{stem}-{scenario}.svg"))
}

const COLORS: [RGBColor; 4] = [
    RGBColor(200, 60, 40),
    RGBColor(40, 90, 200),
    RGBColor(30, 150, 60),
    RGBColor(150, 60, 170),
];

/// The percentile axis: x = −log10(1 − q), so 1 is p90, 2 is p99, 3 is p99.9.
fn nines_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-*x));
    match *x {
        x if x < 0.5 => "0".into(),
        x if x < 1.5 => "90".into(),
        x if x < 2.5 => "99".into(),
        x if x < 3.5 => "99.9".into(),
        _ => format!("{q:.2}"),
    }
}

pub fn draw(r: &Report, path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1000, 820)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(420);
    let labels = r.labels();
    let merged: Vec<(String, Histogram)> = labels
        .iter()
        .map(|l| {
            let mut h = Histogram::default();
            for run in r.runs.iter().filter(|x| &x.target == l) {
                h.merge(&run.latency);
            }
            (l.clone(), h)
        })
        .collect();
    let max_ms = merged
        .iter()
        .map(|(_, h)| h.max() as f64 / 1000.0)
        .fold(1.0, f64::max);
    let title = format!(
        "{} — end-to-end latency, all receivers ({}, commit {})",
        r.scenario,
        r.date.get(..10).unwrap_or(""),
        r.commit
    );
    let mut chart = ChartBuilder::on(&top)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..4.0, (0.01f64..max_ms * 1.5).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(5)
        .x_label_formatter(&nines_label)
        .draw()?;
    for (i, (label, h)) in merged.iter().enumerate() {
        if h.count() == 0 {
            continue;
        }
        let c = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = (0..=400)
            .map(|k| {
                let x = f64::from(k) / 100.0;
                let q = 1.0 - 10f64.powf(-x);
                (x, (h.quantile(q) as f64 / 1000.0).max(0.01))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, c.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;

    // Throughput over time: the first run of each target.
    let firsts: Vec<_> = labels
        .iter()
        .filter_map(|l| r.runs.iter().find(|x| &x.target == l))
        .collect();
    let step = super::load::BUCKET.as_secs_f64();
    let t_max = firsts
        .iter()
        .map(|x| x.delivered_series.len() as f64 * step)
        .fold(1.0, f64::max);
    let y_max = firsts
        .iter()
        .flat_map(|x| x.delivered_series.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "delivered messages per second (100 ms steps; warm-up, measurement, drain)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..t_max, 0f64..y_max * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the start of the warm-up")
        .y_desc("messages/s")
        .draw()?;
    for (i, run) in firsts.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = run
            .delivered_series
            .iter()
            .enumerate()
            .map(|(k, v)| (k as f64 * step, *v as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(1)))?
            .label(run.target.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    if let Some(run) = firsts.first() {
        for x in [run.warmup_secs, run.warmup_secs + run.duration_secs] {
            chart.draw_series(LineSeries::new(
                vec![(x, 0.0), (x, y_max * 1.1)],
                BLACK.mix(0.4),
            ))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()?;
    root.present()?;
    Ok(())
}
