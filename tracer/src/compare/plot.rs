//! `compare --plot FILE.svg|FILE.png`: the comparison as a figure like the seed study's: per
//! source directory (per module without DWARF) one bar per run for the share of attached
//! functions it entered, and one for its entries (log scale). SVG or PNG by the file's
//! extension, written atomically.
use std::{path::Path, sync::Once};

use anyhow::{Context as _, bail};
use plotters::{
    prelude::*,
    style::{FontStyle, register_font},
};

use super::{Comparison, Section};
use crate::export::file;

/// Debian's fonts-dejavu-core (installed by scripts/setup.sh); plotters needs a font to lay
/// out text even in SVG.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Groups shown: the ones with the most entries.
const MAX_GROUPS: usize = 20;
/// Pixels above the first group (title, legend, panel titles).
const TOP: i32 = 70;
/// Height of one bar; a group has one per run.
const BAR_HEIGHT: i32 = 10;

fn group_height(runs: usize) -> i32 {
    BAR_HEIGHT * runs as i32 + 8
}
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

pub fn plot(path: &Path, c: &Comparison, force: bool) -> anyhow::Result<()> {
    let (section, what) = match (&c.directories, &c.modules) {
        (Some(d), _) => (d, "source directory"),
        (None, Some(m)) if m.rows.iter().any(|r| r.coverage.is_some()) => (m, "module"),
        _ => bail!(
            "--plot needs records with counted kernel functions (record with --functions, --module or --all)"
        ),
    };
    load_font()?;
    let svg = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => true,
        Some("png") => false,
        _ => bail!("--plot {}: the file name must end in .svg or .png", path.display()),
    };
    file::check_target(path, force)?;
    // Drawn into a temporary file beside the target, then moved into place.
    let dir = tempfile::Builder::new().prefix(".ktrace-plot").tempdir_in(
        path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")),
    )?;
    let tmp = dir.path().join(if svg { "plot.svg" } else { "plot.png" });
    let groups = MAX_GROUPS.min(section.rows.len()) as u32;
    let size = (1200, TOP as u32 + groups * group_height(c.runs.len()) as u32 + 20);
    if svg {
        draw(SVGBackend::new(&tmp, size).into_drawing_area(), c, section, what)?;
    } else {
        draw(BitMapBackend::new(&tmp, size).into_drawing_area(), c, section, what)?;
    }
    let bytes = std::fs::read(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
    file::write_atomically(path, force, |f| std::io::Write::write_all(f, &bytes))
}

fn load_font() -> anyhow::Result<()> {
    static LOADED: Once = Once::new();
    let mut result = Ok(());
    LOADED.call_once(|| {
        result = std::fs::read(FONT)
            .with_context(|| format!("reading the font {FONT} (package fonts-dejavu-core)"))
            .and_then(|bytes| {
                register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
                    .map_err(|_| anyhow::anyhow!("{FONT} is not a usable font"))
            });
    });
    result
}

fn draw<B: DrawingBackend>(
    root: DrawingArea<B, plotters::coord::Shift>,
    c: &Comparison,
    section: &Section,
    what: &str,
) -> anyhow::Result<()>
where
    B::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<B::ErrorType>| anyhow::anyhow!("drawing: {e:?}");
    root.fill(&WHITE).map_err(err)?;
    let rows = &section.rows[..section.rows.len().min(MAX_GROUPS)];
    let runs = c.runs.len();
    let (width, _) = root.dim_in_pixel();
    let font = |size: u32| ("sans-serif", size).into_font();
    root.draw(&Text::new(
        format!("Kernel functions per {what}: entered / attached, and entries"),
        (20, 10),
        font(20),
    ))
    .map_err(err)?;
    // Legend: one colour per run.
    for (r, run) in c.runs.iter().enumerate() {
        let x = 20 + 220 * r as i32;
        let color = PALETTE[r % PALETTE.len()];
        root.draw(&Rectangle::new([(x, 40), (x + 14, 54)], color.filled())).map_err(err)?;
        root.draw(&Text::new(run.label.clone(), (x + 20, 40), font(14))).map_err(err)?;
    }
    let (label_w, top) = (200i32, TOP);
    let group_h = group_height(runs);
    let panel_w = (width as i32 - label_w - 60) / 2;
    let (cov_x, hits_x) = (label_w, label_w + panel_w + 40);
    root.draw(&Text::new("entered / attached (%)", (cov_x, top - 14), font(12))).map_err(err)?;
    root.draw(&Text::new("entries (log10)", (hits_x, top - 14), font(12))).map_err(err)?;
    let max_log =
        rows.iter().flat_map(|r| &r.values).map(|&v| ((v + 1) as f64).log10()).fold(1.0, f64::max);
    for (g, row) in rows.iter().enumerate() {
        let y = top + g as i32 * group_h;
        root.draw(&Text::new(row.name.clone(), (10, y + group_h / 2 - 7), font(12)))
            .map_err(err)?;
        for r in 0..runs {
            let color = PALETTE[r % PALETTE.len()].filled();
            let y0 = y + r as i32 * BAR_HEIGHT;
            let share = row.coverage.as_ref().map_or(0.0, |cov| {
                let (hit, attached) = cov[r];
                if attached == 0 { 0.0 } else { hit as f64 / attached as f64 }
            });
            let w = (share * panel_w as f64) as i32;
            root.draw(&Rectangle::new([(cov_x, y0), (cov_x + w, y0 + BAR_HEIGHT - 2)], color))
                .map_err(err)?;
            let hits = ((row.values[r] + 1) as f64).log10() / max_log;
            let w = (hits * panel_w as f64) as i32;
            root.draw(&Rectangle::new([(hits_x, y0), (hits_x + w, y0 + BAR_HEIGHT - 2)], color))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Measure, Row, tests::pair};

    /// `pair()` with a directory section: net/core entered by net only, fs by both.
    fn with_directories() -> Comparison {
        let mut c = pair();
        let row = |name: &str, values: Vec<u64>, coverage: Vec<(u64, u64)>| Row {
            name: name.to_owned(),
            module: None,
            values,
            coverage: Some(coverage),
        };
        c.directories = Some(Section {
            measure: Measure::Entries,
            rows: vec![
                row("net/core", vec![200, 0], vec![(3, 10), (0, 10)]),
                row("fs", vec![5, 70], vec![(1, 4), (2, 4)]),
            ],
            omitted: 0,
        });
        c
    }

    #[test]
    fn svg_and_png_show_every_run_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let c = with_directories();
        let svg = dir.path().join("cmp.svg");
        plot(&svg, &c, false).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        for label in c.runs.iter().map(|r| r.label.as_str()).chain(["net/core", "fs"]) {
            assert!(text.contains(&format!("\n{label}\n</text>")), "{label} missing from the SVG");
        }
        let png = dir.path().join("cmp.png");
        plot(&png, &c, false).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        assert!(plot(&png, &c, false).unwrap_err().to_string().contains("--force"));
        assert!(plot(&dir.path().join("cmp.jpg"), &c, false).is_err());
        // Only the two figures are left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
