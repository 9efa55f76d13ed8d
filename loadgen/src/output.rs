//! What a run leaves behind besides its report: a live progress line on a terminal,
//! an HdrHistogram percentile distribution file (`.hgrm`) and a latency percentile
//! plot (SVG).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;

/// A one-line live status on stderr, only when stderr is a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: Instant,
}

impl Progress {
    /// A progress line, unless `quiet` or stderr is not a terminal.
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
            bar
        });
        Self {
            bar,
            last: Instant::now() - Duration::from_secs(1),
        }
    }

    /// Whether a line is shown (callers skip building the text otherwise).
    pub fn due(&mut self) -> bool {
        if self.bar.is_none() || self.last.elapsed() < Duration::from_millis(250) {
            return false;
        }
        self.last = Instant::now();
        true
    }

    /// Replaces the line.
    pub fn set(&self, text: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(text);
            bar.tick();
        }
    }

    /// Removes the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Writes `histogram` (values in ns) as the standard HdrHistogram percentile
/// distribution text, values in milliseconds, 5 ticks per half distance — the format
/// of `HistogramLogProcessor` / `outputPercentileDistribution`, which the online
/// HdrHistogram plotter reads.
pub fn write_hgrm(path: &Path, histogram: &Histogram<u64>) -> anyhow::Result<()> {
    let mut out = Vec::new();
    hgrm_text(histogram, &mut out);
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

fn hgrm_text(h: &Histogram<u64>, out: &mut Vec<u8>) {
    const SCALE: f64 = 1e6; // ns → ms
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        let mut total = 0u64;
        for v in h.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let value = h.highest_equivalent(v.value_iterated_to()) as f64 / SCALE;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (h.mean() / SCALE, h.stdev() / SCALE, h.max() as f64 / SCALE)
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        // HdrHistogram's sub-bucket count: 2 × 10^digits rounded up to a power of two.
        (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two()
    );
}

/// Points of a percentile curve: x = 1/(1-p) (log axis), y = latency in ms.
fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    if h.is_empty() {
        return points;
    }
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        let x = 1.0 / (1.0 - q);
        let y = h.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
        points.push((x, y));
    }
    // The maximum sits at the right edge, one decade past the last finite point.
    let last_x = points.last().map_or(1.0, |p| p.0);
    points.push((last_x * 10.0, h.max() as f64 / 1e6));
    points
}

/// Draws the percentile curves of `series` (name, ns histogram) into an SVG file.
pub fn plot(path: &Path, title: &str, series: &[(&str, &Histogram<u64>)]) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, h)| (*name, curve(h)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let max_x = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.0))
        .fold(100.0f64, f64::max);
    let max_x = 10f64.powf(max_x.log10().ceil()).max(100.0);
    let max_y = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.1;
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(20)
            .margin_right(50)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d((1.0f64..max_x).log_scale(), 0.0f64..max_y)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()?;
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        for (k, (name, points)) in curves.iter().enumerate() {
            let color = colors[k % colors.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|err| anyhow::anyhow!("drawing {}: {err}", path.display()))
}

/// `1/(1-p)` as a percentile label: 1 → 0%, 10 → 90%, 100 → 99%, …
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x);
    let decimals = (x.log10().round() as i32 - 2).max(0) as usize;
    format!("{p:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_histogram;

    #[test]
    fn hgrm_has_the_standard_shape() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let mut out = Vec::new();
        hgrm_text(&h, &mut out);
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.contains("Value") && first.contains("1/(1-Percentile)"));
        assert!(text.contains("#[Max     ="));
        assert!(text.contains("Total count    =         1000]"));
        let last_value_line = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        assert!(
            last_value_line.contains("1.000000000000"),
            "{last_value_line}"
        );
    }

    #[test]
    fn percentile_labels_read_naturally() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
    }
}
