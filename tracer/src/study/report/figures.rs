//! The report's figures, drawn by [`crate::figure`] next to report.md: the overview (distinct
//! host kernel functions per platform and benchmark) and, per benchmark, the seed study's
//! coverage bars per kernel source directory (counted functions placed with the kernel's
//! DWARF) and per module. Each is an SVG, which report.md embeds, and a PNG at twice its size
//! for slides. One palette for the whole study, so a platform keeps its colour everywhere.
use std::path::Path;

use serde::Serialize;

use super::{Footprint, Loaded};
use crate::{
    compare::{Comparison, plot},
    figure::{self, BarChart, Compared, Group, Grouping, Measure, Overview, Palette},
    study::{benchmark::Benchmark, manifest::Manifest},
};

/// The report's figures, or why there are none.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    /// The overview, then each benchmark's per-directory and per-module figures.
    pub files: Vec<Figure>,
    /// Why there are none, when there are none.
    pub missing: Option<String>,
}

/// A figure of the report, as report.json lists it.
#[derive(Debug, Serialize)]
pub struct Figure {
    /// The benchmark whose runs it compares; none for the overview.
    pub benchmark: Option<Benchmark>,
    /// What it shows; report.md's alt text.
    pub shows: String,
    /// The SVG and the PNG, relative to the study's directory.
    pub svg: String,
    pub png: String,
}

/// Draws the overview and each benchmark's coverage figures into `dir`, replacing earlier
/// ones: a report made again (`--report-only`, e.g. with DWARF) redraws them all. Without the
/// figures' font the report goes on without them and says how to draw them: a study's runs
/// (minutes in a guest without fonts) must not be lost to its figures.
pub(super) fn write(
    dir: &Path,
    manifest: &Manifest,
    footprint: &[Footprint],
    loaded: &[Loaded],
    comparisons: &[Comparison],
) -> anyhow::Result<Figures> {
    if let Err(e) = figure::check_fonts() {
        let missing = format!(
            "{e:#}; `ktrace study --report-only DIR` on a machine with the font draws them"
        );
        eprintln!("ktrace: study: no figures: {missing}");
        return Ok(Figures { files: Vec::new(), missing: Some(missing) });
    }
    let platforms: Vec<String> = manifest.platforms.iter().map(|p| p.name.clone()).collect();
    let palette = Palette::new(&platforms);
    let overview = Overview {
        runs: platforms,
        kernel_release: manifest.kernel_release.clone(),
        measure: if manifest.tracing.counted() { Measure::Counted } else { Measure::Sampled },
        benchmarks: manifest
            .benchmarks
            .iter()
            .enumerate()
            .map(|(i, b)| Group {
                name: b.name().to_owned(),
                runs: footprint.iter().map(|f| f.per_benchmark[i].map(|n| n as u64)).collect(),
            })
            .collect(),
    };
    let mut figures = vec![draw(
        dir,
        "overview",
        None,
        "Distinct host kernel functions per platform and benchmark",
        &figure::overview(&overview, &palette),
    )?];
    for (l, c) in loaded.iter().zip(comparisons).filter(|(l, _)| !l.records.is_empty()) {
        let b = l.benchmark;
        for (grouping, file, per) in [
            (Grouping::SourceDirectory, "directories", "kernel source directory"),
            (Grouping::Module, "modules", "module"),
        ] {
            let compared = Compared::Benchmark(b.name().to_owned());
            if let Some(input) = plot::coverage(c, grouping, compared) {
                let shows = format!("Host kernel functions per {per}: {b} benchmark");
                let chart = figure::coverage(&input, &palette);
                figures.push(draw(dir, &format!("{b}-{file}"), Some(b), &shows, &chart)?);
            }
        }
    }
    Ok(Figures { files: figures, missing: None })
}

/// Writes `chart` as `DIR/STEM.svg` and `DIR/STEM.png`.
fn draw(
    dir: &Path,
    stem: &str,
    benchmark: Option<Benchmark>,
    shows: &str,
    chart: &BarChart,
) -> anyhow::Result<Figure> {
    let (svg, png) = (format!("{stem}.svg"), format!("{stem}.png"));
    figure::write(&dir.join(&svg), chart, true)?;
    figure::write(&dir.join(&png), chart, true)?;
    Ok(Figure { benchmark, shows: shows.to_owned(), svg, png })
}
