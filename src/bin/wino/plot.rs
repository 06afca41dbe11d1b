//! `wino bench --plot`: the records as an SVG chart, time against image side, one panel per
//! suite and one line per algorithm and layout (and batch, where the suite mixes batches).

use crate::bench::Record;
use crate::Res;
use std::fmt::Display;
fn plot_err(e: impl Display) -> String {
    format!("plotting: {e}")
}

/// Time against image side as SVG: one panel per suite, one line per algo + layout (+ batch).
pub fn plot(results: &[Record]) -> Res<String> {
    use plotters::prelude::*;
    let mut suites: Vec<&str> = results.iter().map(Record::suite).collect();
    suites.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 480 * suites.len() as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (area, suite) in root.split_evenly((suites.len(), 1)).iter().zip(&suites) {
            let rows: Vec<&Record> = results.iter().filter(|r| r.suite() == *suite).collect();
            draw_panel(area, suite, &rows)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// `y` to three significant digits, without trailing zeros: 0.00781, 0.5, 16, 1024.
fn three_digits(y: f64) -> String {
    let decimals = (2 - y.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{y:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Named series of (image side, ms), each sorted by side.
fn series(rows: &[&Record]) -> Vec<(String, Vec<(f64, f64)>)> {
    let batches = rows.iter().any(|r| r.n != rows[0].n);
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        // The tile asked for is its own series: F(2,3) and F(4,3) points joined by one line
        // zigzag between two curves.
        let mut key = format!("{} {}", r.algo, r.layout);
        if let Some(m) = r.requested_tile {
            key += &format!(" tile {m}");
        }
        if batches {
            key += &format!(" batch {}", r.n);
        }
        let point = (r.h as f64, r.ms());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, points)) => points.push(point),
            None => out.push((key, vec![point])),
        }
    }
    for (_, points) in &mut out {
        points.sort_by(|p, q| p.0.total_cmp(&q.0));
    }
    out
}

fn draw_panel<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    suite: &str,
    rows: &[&Record],
) -> Res<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let series = series(rows);
    let points = || series.iter().flat_map(|s| s.1.iter());
    let (min_x, max_x) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (min_y, max_y) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let pad_x = (max_x - min_x).max(8.0) * 0.05;
    // Log-scale headroom above the data for the legend (about 15 px a series of ~380).
    let (bottom, top) = (min_y.max(1e-6) / 1.5, max_y * 1.5);
    let legend = ((15 * series.len() + 30) as f64 / 380.0).min(0.6);
    let top = top * (top / bottom).powf(legend / (1.0 - legend));
    // Labels fall on powers of the base: powers of 2 give enough of them on narrow ranges.
    let base = if top / bottom < 1000.0 { 2.0 } else { 10.0 };
    let clock = if rows.iter().all(|r| r.gpu_ms.is_some()) { "GPU timestamps" } else { "wall time" };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{suite} suite: ms per call ({clock})"), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(min_x - pad_x..max_x + pad_x, (bottom..top).log_scale().base(base))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.04))
        .y_labels(8)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|&y| three_digits(y))
        .x_desc("image side (pixels)")
        .y_desc("ms per call")
        .draw()
        .map_err(plot_err)?;
    // ColorBrewer Set1, distinct on white.
    const COLORS: [RGBColor; 8] = [
        RGBColor(228, 26, 28),
        RGBColor(55, 126, 184),
        RGBColor(77, 175, 74),
        RGBColor(152, 78, 163),
        RGBColor(255, 127, 0),
        RGBColor(166, 86, 40),
        RGBColor(247, 129, 191),
        RGBColor(60, 60, 60),
    ];
    // A network's layers are unrelated shapes that share an image side now and then: points
    // only, no line through them. The seed and ResNet sweeps vary the side of one layer: lines.
    let joined = !matches!(suite, "resnet50" | "mobilenetv2" | "dcgan" | "unet");
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let legend = move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2));
        let dots = points.iter().map(|&p| Circle::new(p, 3, color.filled()));
        if joined {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name)
                .legend(legend);
            chart.draw_series(dots).map_err(plot_err)?;
        } else {
            chart.draw_series(dots).map_err(plot_err)?.label(name).legend(legend);
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}
