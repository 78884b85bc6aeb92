//! `compare --plot FILE.svg|FILE.png`: the comparison as the study's coverage figure
//! ([`figure::coverage`]). Counted records: per source directory (per module without DWARF)
//! one bar per run for the share of attached functions it entered and one for its entries
//! (per module, with `--irq separate`, one more for its entries in interrupts while it ran);
//! sampled records: samples per module. SVG or PNG by the file's extension, written
//! atomically.
use std::path::Path;

use anyhow::bail;

use super::{Comparison, Measure};
use crate::figure::{
    self, BarChart, Compared, Counted, Coverage, Group, Grouping, Groups, Palette,
};

pub fn plot(path: &Path, c: &Comparison, force: bool) -> anyhow::Result<()> {
    figure::write(path, &chart(c)?, force)
}

fn chart(c: &Comparison) -> anyhow::Result<BarChart> {
    let files = distinct(c.runs.iter().map(|r| {
        Path::new(&r.file).file_name().map_or(r.file.clone(), |n| n.to_string_lossy().into())
    }));
    let input = [Grouping::SourceDirectory, Grouping::Module]
        .into_iter()
        .find_map(|grouping| coverage(c, grouping, Compared::Records(files.clone())));
    let Some(input) = input else {
        bail!(
            "--plot needs records that all counted kernel functions (--functions, --module, \
             --all) or all sampled them (--sample)"
        )
    };
    Ok(figure::coverage(&input, &Palette::new(&input.runs)))
}

/// The comparison's functions per source directory or module as the input of
/// [`figure::coverage`], one run per record; `None` when the comparison has no such section
/// (no kernel functions, or no DWARF for directories). `ktrace study` draws each benchmark's.
pub fn coverage(c: &Comparison, grouping: Grouping, compared: Compared) -> Option<Coverage> {
    let (section, in_interrupts) = match grouping {
        Grouping::SourceDirectory => (c.directories.as_ref()?, None),
        Grouping::Module => (c.modules.as_ref()?, c.modules_in_interrupts.as_ref()),
    };
    let runs: Vec<String> = c.runs.iter().map(|r| r.label.clone()).collect();
    let groups = if section.measure == Measure::Samples {
        Groups::Sampled(
            section
                .rows
                .iter()
                .map(|row| Group {
                    name: row.name.clone(),
                    runs: row.values.iter().copied().map(Some).collect(),
                })
                .collect(),
        )
    } else {
        Groups::Counted(
            section
                .rows
                .iter()
                .map(|row| Group {
                    name: row.name.clone(),
                    runs: (0..runs.len())
                        .map(|r| {
                            let (entered, attached) = row.coverage.as_ref()?[r];
                            let in_interrupts = in_interrupts.map(|section| {
                                let same = section.rows.iter().find(|i| i.name == row.name);
                                same.map_or(0, |i| i.values[r])
                            });
                            Some(Counted {
                                entered,
                                attached,
                                entries: row.values[r],
                                in_interrupts,
                            })
                        })
                        .collect(),
                })
                .collect(),
        )
    };
    Some(Coverage {
        compared,
        kernel_release: distinct(c.runs.iter().map(|r| r.kernel_release.clone())).join(", "),
        grouping,
        groups,
        runs,
    })
}

/// The items in their first order, each once.
fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::{
        attach::IrqMode,
        compare::tests::record,
        compare::{compare, load},
        figure::tests::{Figure, png_size},
        report::{InInterrupts, Kind, SampleReport, SampledModule},
    };

    /// The checked-in records of a study's network benchmark on runc and runsc, counted by
    /// module (their kernel has no DWARF anywhere).
    fn fixtures() -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/records");
        vec![dir.join("runc-network.json"), dir.join("runsc-network.json")]
    }

    /// (panel, run, group, printed value) as the figure should show them.
    fn rows(expected: &[(usize, &str, &str, &str)]) -> Vec<(usize, String, String, String)> {
        expected.iter().map(|&(p, r, g, v)| (p, r.to_owned(), g.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn records_plot_as_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(&fixtures(), &[], None, None).unwrap();
        let svg = dir.path().join("cmp.svg");
        plot(&svg, &c, false).unwrap();
        let figure = Figure::parse(&std::fs::read_to_string(&svg).unwrap());
        figure.check_layout();
        assert_eq!(figure.title, "Host kernel functions per module");
        assert!(figure.has_text(
            "records runc-network.json, runsc-network.json · kernel 6.12.0-ktrace-fixture · \
             function entries counted (exact)"
        ));
        for tick in ["0%", "25%", "50%", "75%", "100%", "10⁰", "10¹", "10²", "10³", "10⁴", "10⁵"]
        {
            assert!(figure.has_text(tick), "tick {tick}");
        }
        assert!(!figure.has_text("10⁶"));
        // The records' modules: hit/traced and entries per run. runsc attached no overlay
        // function and runc no nf_conntrack one: no bar. runc entered none of overlay: 0.
        assert!(figure.has_text("no bar: not attached"));
        let expected = [
            (0, "runc-network", "vmlinux", "26% (31/120)"),
            (0, "runsc-network", "vmlinux", "37% (44/120)"),
            (0, "runc-network", "veth", "31% (15/48)"),
            (0, "runsc-network", "veth", "25% (12/48)"),
            (0, "runsc-network", "nf_conntrack", "10% (3/30)"),
            (0, "runc-network", "overlay", "0% (0/40)"),
            (1, "runc-network", "vmlinux", "48,210"),
            (1, "runsc-network", "vmlinux", "90,511"),
            (1, "runc-network", "veth", "112"),
            (1, "runsc-network", "veth", "87"),
            (1, "runsc-network", "nf_conntrack", "9"),
            (1, "runc-network", "overlay", "0"),
        ];
        assert_eq!(figure.values(), rows(&expected));
        // Study records keep their platform's colour: runc orange, runsc green.
        assert_eq!(figure.legend_colour("runc-network"), "#e69f00");
        assert_eq!(figure.legend_colour("runsc-network"), "#009e73");

        let png = dir.path().join("cmp.png");
        plot(&png, &c, false).unwrap();
        let (width, height, _) = png_size(&std::fs::read(&png).unwrap());
        assert_eq!((width, height), ((figure.width * 2.0) as u32, (figure.height * 2.0) as u32));
        assert!(plot(&png, &c, false).unwrap_err().to_string().contains("--force"));
        assert!(plot(&dir.path().join("cmp.jpg"), &c, false).is_err());
        // Only the two figures are left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn sampled_records_plot_samples_per_module() {
        let sampled = |label: &str, modules: &[(&str, u64)]| {
            let mut record = record(&[label], &[]);
            record.report.kernel_release = "6.18.0".to_owned();
            record.report.kernel_samples = Some(SampleReport {
                kind: Kind::Samples,
                frequency_hz: 999,
                irq: IrqMode::Task,
                totals: Vec::new(),
                in_interrupts_totals: Vec::new(),
                all_interrupts_total: None,
                in_interrupts_lost: Vec::new(),
                all_interrupts_lost: None,
                functions: Vec::new(),
                functions_omitted: 0,
                modules: modules
                    .iter()
                    .map(|&(m, n)| SampledModule {
                        module: m.to_owned(),
                        samples: vec![n],
                        share: vec![1.0],
                        interrupts: InInterrupts::default(),
                    })
                    .collect(),
                clock: None,
            });
            record
        };
        let records = [
            (
                "qemu-cpu".to_owned(),
                "out/qemu-cpu.json".to_owned(),
                sampled("q", &[("kvm", 812), ("vmlinux", 40)]),
            ),
            (
                "bare-cpu".to_owned(),
                "out/bare-cpu.json".to_owned(),
                sampled("b", &[("vmlinux", 3)]),
            ),
        ];
        let c = compare(&records, None);
        let figure = Figure::parse(&figure::svg(&chart(&c).unwrap()).unwrap());
        figure.check_layout();
        assert!(figure.has_text(
            "records qemu-cpu.json, bare-cpu.json · kernel 6.18.0 · kernel samples (statistical, \
             not counts)"
        ));
        assert!(figure.has_text("Kernel samples (log scale)"));
        // A module a run has no samples in is a zero, not a missing bar.
        assert!(!figure.has_text("no bar: not run"));
        let expected = [
            (0, "qemu-cpu", "kvm", "812"),
            (0, "bare-cpu", "kvm", "0"),
            (0, "qemu-cpu", "vmlinux", "40"),
            (0, "bare-cpu", "vmlinux", "3"),
        ];
        assert_eq!(figure.values(), rows(&expected));
    }

    #[test]
    fn records_without_kernel_functions_cannot_be_plotted() {
        let mut c = crate::compare::tests::pair();
        c.modules = None;
        let err = chart(&c).unwrap_err().to_string();
        assert!(err.contains("--plot needs records"), "{err}");
    }
}
