//! Figures a paper can use, as SVG (text stays text) and PNG (twice the size, 192 dpi).
//!
//! Every figure is a grouped horizontal bar chart ([`BarChart`]): a title, a subtitle naming
//! what is compared (platforms or records, benchmark, kernel release, counted or sampled), a
//! legend, and panels whose axes have ticks with values and units, gridlines, and each bar's
//! value printed at its end. A bar of zero prints "0"; a missing bar (nothing attached, not
//! run) has no bar and no label, and the legend says what that means. Group names are never
//! clipped: margins are measured from the text.
//!
//! # Building figures from a study
//!
//! The builders take plain numbers, no record or study types:
//!
//! ```no_run
//! use tracer::figure::{self, Compared, Counted, Coverage, Group, Grouping, Groups, Measure,
//!     Overview, Palette};
//!
//! let platforms = vec!["bare".to_owned(), "runc".to_owned(), "runsc".to_owned()];
//! // One palette for the whole study: each platform keeps its colour in every figure.
//! let palette = Palette::new(&platforms);
//! let network = Coverage {
//!     compared: Compared::Benchmark("network".to_owned()),
//!     runs: platforms.clone(),
//!     kernel_release: "6.12.117+deb12-cloud-amd64".to_owned(),
//!     grouping: Grouping::SourceDirectory,
//!     // Per directory, per platform in `runs` order; None where nothing was attached.
//!     groups: Groups::Counted(vec![Group {
//!         name: "net/core".to_owned(),
//!         runs: vec![
//!             Some(Counted { entered: 120, attached: 900, entries: 48_000, in_interrupts: None }),
//!             Some(Counted { entered: 95, attached: 900, entries: 7_100, in_interrupts: None }),
//!             None,
//!         ],
//!     }]),
//! };
//! figure::write("out/network.svg".as_ref(), &figure::coverage(&network, &palette), false)?;
//! let overview = Overview {
//!     runs: platforms.clone(),
//!     kernel_release: "6.12.117+deb12-cloud-amd64".to_owned(),
//!     measure: Measure::Counted,
//!     // Per benchmark, per platform: distinct host kernel functions entered; None: not run.
//!     benchmarks: vec![
//!         Group { name: "cpu".to_owned(), runs: vec![Some(310), Some(355), Some(1_204)] },
//!         Group { name: "network".to_owned(), runs: vec![Some(2_950), Some(3_120), None] },
//!     ],
//! };
//! figure::write("out/overview.png".as_ref(), &figure::overview(&overview, &palette), false)?;
//! # anyhow::Ok(())
//! ```
//!
//! - [`coverage`]: one benchmark (or one `ktrace compare`) per source directory or module,
//!   like the seed study's per-directory bars. Counted runs ([`Groups::Counted`]) get two
//!   panels, functions entered as a share of those attached and entries on a log axis;
//!   sampled runs ([`Groups::Sampled`]) one, samples on a log axis. The 20 groups with the
//!   most functions entered (or samples) are drawn, in that order; a note counts the rest.
//! - [`overview`]: distinct host kernel functions entered per platform × benchmark.
//! - [`write`] picks SVG or PNG by the file's extension and writes atomically, replacing a
//!   file only with `force`; [`svg`] and [`png`] return the bytes.
//!
//! Colours come from [`Palette`]: Okabe-Ito (colour-blind safe), with fixed colours for
//! well-known platforms (bare, runc, runsc/gvisor, qemu/vm, lxc, firecracker) and the free
//! ones, in order, for other names. The text is DejaVu Sans (package fonts-dejavu-core).
mod activity;
mod chart;
mod font;
mod layout;
mod palette;
mod png;
mod svg;
#[cfg(test)]
pub(crate) mod tests;

use std::{io::Write as _, path::Path};

use anyhow::bail;

pub use self::{
    activity::{
        Compared, Counted, Coverage, Group, Grouping, Groups, MAX_GROUPS, Measure, Overview,
        coverage, overview,
    },
    chart::{Axis, Bar, BarChart, Panel, Series},
    palette::{Colour, Palette},
};
use self::{font::Fonts, layout::layout};
use crate::export::file;

/// The chart as an SVG document.
pub fn svg(chart: &BarChart) -> anyhow::Result<String> {
    Ok(svg::write(&layout(chart, &Fonts::load()?)))
}

/// The chart as a PNG image at twice the SVG's size.
pub fn png(chart: &BarChart) -> anyhow::Result<Vec<u8>> {
    let fonts = Fonts::load()?;
    png::write(&layout(chart, &fonts), &fonts)
}

/// Fails, naming the package, if the figures' font cannot be loaded here (a minimal system,
/// such as the test guests, may have none): for callers to whom figures are optional.
pub fn check_fonts() -> anyhow::Result<()> {
    Fonts::load().map(drop)
}

/// The file formats of a figure, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Png,
}

impl Format {
    fn of(path: &Path) -> anyhow::Result<Self> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("svg") => Ok(Self::Svg),
            Some("png") => Ok(Self::Png),
            _ => bail!("{}: the figure's file name must end in .svg or .png", path.display()),
        }
    }
}

/// Fails early, before any work, if a figure could not be written at `path`: not `.svg` or
/// `.png`, an existing file without `force`, or no such directory.
pub fn check_target(path: &Path, force: bool) -> anyhow::Result<()> {
    Format::of(path)?;
    file::check_target(path, force)
}

/// Writes the chart to `path`, SVG or PNG by its extension, atomically; an existing file is
/// replaced only if `force`.
pub fn write(path: &Path, chart: &BarChart, force: bool) -> anyhow::Result<()> {
    let format = Format::of(path)?;
    file::check_target(path, force)?;
    let bytes = match format {
        Format::Svg => svg(chart)?.into_bytes(),
        Format::Png => png(chart)?,
    };
    file::write_atomically(path, force, |f| f.write_all(&bytes))
}
