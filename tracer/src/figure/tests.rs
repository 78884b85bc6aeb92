//! Figures checked as a reader would read them: the SVG parsed with an XML parser, its text
//! and bars compared with the numbers that went in.
use std::collections::BTreeMap;

use quick_xml::{
    XmlVersion,
    events::{BytesStart, Event},
};

use super::{font::Fonts, *};

/// One `<text>` of a figure.
#[derive(Debug, Clone, PartialEq)]
pub struct TextAt {
    pub x: f32,
    pub y: f32,
    pub size: f32,
    pub bold: bool,
    pub anchor: String,
    pub fill: String,
    pub text: String,
}

/// One bar: its rectangle, colour and printed value, and what its tooltip says it is.
#[derive(Debug, Clone, PartialEq)]
pub struct BarAt {
    pub series: String,
    pub group: String,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub fill: String,
    pub value: TextAt,
}

/// What an SVG figure shows.
#[derive(Debug)]
pub struct Figure {
    pub width: f32,
    pub height: f32,
    pub title: String,
    /// Every `<text>` outside the bars.
    pub texts: Vec<TextAt>,
    /// `<rect>`s outside the bars: (x, y, w, h, fill).
    pub rects: Vec<(f32, f32, f32, f32, String)>,
    pub bars: Vec<BarAt>,
}

#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: BTreeMap<String, String>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn get(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }

    fn number(&self, key: &str) -> f32 {
        self.get(key).parse().unwrap_or_else(|_| panic!("{key} of <{}> is not a number", self.name))
    }

    fn as_text(&self) -> TextAt {
        TextAt {
            x: self.number("x"),
            y: self.number("y"),
            size: self.number("font-size"),
            bold: self.get("font-weight") == "bold",
            anchor: self.get("text-anchor").to_owned(),
            fill: self.get("fill").to_owned(),
            text: self.text.clone(),
        }
    }

    fn as_rect(&self) -> (f32, f32, f32, f32, String) {
        let (x, y, w, h) =
            (self.number("x"), self.number("y"), self.number("width"), self.number("height"));
        (x, y, w, h, self.get("fill").to_owned())
    }
}

fn element(start: &BytesStart) -> Element {
    let mut element = Element {
        name: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
        ..Element::default()
    };
    for a in start.attributes() {
        let a = a.expect("a well-formed attribute");
        let value = a.normalized_value(XmlVersion::Implicit1_0).expect("a value");
        element
            .attributes
            .insert(String::from_utf8_lossy(a.key.as_ref()).into_owned(), value.into());
    }
    element
}

/// Parses SVG text into its elements.
fn elements(svg: &str) -> Element {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut stack = vec![Element::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => stack.last_mut().expect("a parent").children.push(element(&e)),
            Event::Text(t) => {
                stack.last_mut().expect("a parent").text.push_str(&t.decode().expect("UTF-8"));
            }
            Event::GeneralRef(r) => {
                let c = match r.decode().expect("UTF-8").as_ref() {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    other => panic!("unexpected entity &{other};"),
                };
                stack.last_mut().expect("a parent").text.push(c);
            }
            Event::End(_) => {
                let done = stack.pop().expect("an open element");
                stack.last_mut().expect("a parent").children.push(done);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut document = stack.pop().expect("the document");
    assert_eq!(document.children.len(), 1, "one root element");
    document.children.remove(0)
}

impl Figure {
    pub fn parse(svg: &str) -> Self {
        let root = elements(svg);
        assert_eq!(root.name, "svg");
        let mut figure = Self {
            width: root.number("width"),
            height: root.number("height"),
            title: String::new(),
            texts: Vec::new(),
            rects: Vec::new(),
            bars: Vec::new(),
        };
        for e in &root.children {
            match e.name.as_str() {
                "title" => figure.title = e.text.clone(),
                "text" => figure.texts.push(e.as_text()),
                // The white page.
                "rect" if e.get("width") == "100%" => {}
                "rect" => figure.rects.push(e.as_rect()),
                "g" => {
                    let child = |name: &str| {
                        e.children.iter().find(|c| c.name == name).expect("a bar's part")
                    };
                    // The tooltip: "series, group: value".
                    let tip = &child("title").text;
                    let (series, rest) = tip.split_once(", ").expect("series in the tooltip");
                    let (group, label) = rest.split_once(": ").expect("group in the tooltip");
                    let value = child("text").as_text();
                    assert_eq!(label, value.text, "the tooltip and the printed value");
                    let (x, y, w, h, fill) = child("rect").as_rect();
                    figure.bars.push(BarAt {
                        series: series.to_owned(),
                        group: group.to_owned(),
                        x,
                        y,
                        w,
                        h,
                        fill,
                        value,
                    });
                }
                other => panic!("unexpected <{other}>"),
            }
        }
        figure
    }

    pub fn has_text(&self, text: &str) -> bool {
        self.texts.iter().any(|t| t.text == text)
    }

    /// The colour of `name`'s swatch in the legend: the square just left of its name.
    pub fn legend_colour(&self, name: &str) -> String {
        let label = self.texts.iter().find(|t| t.text == name).expect("a legend entry");
        let swatch = self
            .rects
            .iter()
            .find(|(x, y, w, h, _)| {
                (x + w + 4.0 - label.x).abs() < 0.01 && *y < label.y && label.y < y + h + 2.0
            })
            .unwrap_or_else(|| panic!("no swatch beside {name}"));
        swatch.4.clone()
    }

    /// (panel, series, group, printed value) of every bar, panels numbered from the left.
    pub fn values(&self) -> Vec<(usize, String, String, String)> {
        let mut starts: Vec<f32> = self.bars.iter().map(|b| b.x).collect();
        starts.sort_by(f32::total_cmp);
        starts.dedup();
        self.bars
            .iter()
            .map(|b| {
                let panel = starts.iter().position(|&x| x == b.x).expect("a panel");
                (panel, b.series.clone(), b.group.clone(), b.value.text.clone())
            })
            .collect()
    }

    /// Checks what every figure must do: each value printed at its bar's end, in the bar's
    /// row; each bar in its series' legend colour; no text beyond the edges.
    pub fn check_layout(&self) {
        let fonts = Fonts::load().unwrap();
        for bar in &self.bars {
            let end = bar.x + bar.w;
            let v = &bar.value;
            let at_end = match v.anchor.as_str() {
                "" => (v.x - end - 4.0).abs() < 0.02,
                "end" => (end - 4.0 - v.x).abs() < 0.02,
                other => panic!("a value anchored {other}"),
            };
            assert!(
                at_end,
                "{} of {} printed at {}, its bar ends at {end}",
                v.text, bar.series, v.x
            );
            assert!(bar.y < v.y && v.y < bar.y + bar.h, "{} outside its bar's row", v.text);
            assert_eq!(bar.fill, self.legend_colour(&bar.series), "{}'s colour", bar.series);
        }
        let texts = self.texts.iter().chain(self.bars.iter().map(|b| &b.value));
        for t in texts {
            let w = fonts.width(&t.text, t.size, t.bold);
            let left = match t.anchor.as_str() {
                "" => t.x,
                "middle" => t.x - w / 2.0,
                _ => t.x - w,
            };
            assert!(
                left >= 0.0 && left + w <= self.width && t.y <= self.height,
                "`{}` ({left}..{}) does not fit in {} x {}",
                t.text,
                left + w,
                self.width,
                self.height
            );
        }
    }
}

/// (width, height, pixels per metre) of a PNG.
pub fn png_size(bytes: &[u8]) -> (u32, u32, u32) {
    let reader = ::png::Decoder::new(bytes).read_info().expect("a PNG");
    let info = reader.info();
    let dims = info.pixel_dims.expect("a pHYs chunk");
    assert_eq!(dims.xppu, dims.yppu);
    (info.width, info.height, dims.xppu)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn counted(entered: u64, attached: u64, entries: u64) -> Option<Counted> {
    Some(Counted { entered, attached, entries, in_interrupts: None })
}

/// A study's network benchmark on three platforms, qemu not attached in `fs/overlayfs`.
fn network() -> Coverage {
    Coverage {
        compared: Compared::Benchmark("network".to_owned()),
        runs: strings(&["runc", "runsc", "qemu"]),
        kernel_release: "6.12.117+deb12-cloud-amd64".to_owned(),
        grouping: Grouping::SourceDirectory,
        groups: Groups::Counted(vec![
            Group {
                name: "fs/overlayfs".to_owned(),
                runs: vec![counted(3, 211, 40), counted(0, 211, 0), None],
            },
            Group {
                name: "net/core".to_owned(),
                runs: vec![
                    counted(120, 900, 48_000),
                    counted(95, 900, 7_100),
                    counted(40, 900, 1_000_000),
                ],
            },
        ]),
    }
}

#[test]
fn coverage_figure_reads_as_the_numbers_given() {
    let palette = Palette::new(["runc", "runsc", "qemu"]);
    let svg = svg(&coverage(&network(), &palette)).unwrap();
    let figure = Figure::parse(&svg);
    figure.check_layout();
    assert_eq!(figure.title, "Host kernel functions per source directory: network benchmark");
    assert!(figure.has_text(
        "platforms runc, runsc, qemu · kernel 6.12.117+deb12-cloud-amd64 · function entries \
         counted (exact)"
    ));
    assert!(figure.has_text("no bar: not attached"));
    for tick in ["0%", "25%", "50%", "75%", "100%", "10⁰", "10¹", "10³", "10⁶"] {
        assert!(figure.has_text(tick), "tick {tick}");
    }
    // Most functions entered first; qemu has no bar in fs/overlayfs, runsc's zero prints 0.
    let expected = [
        (0, "runc", "net/core", "13% (120/900)"),
        (0, "runsc", "net/core", "11% (95/900)"),
        (0, "qemu", "net/core", "4.4% (40/900)"),
        (0, "runc", "fs/overlayfs", "1.4% (3/211)"),
        (0, "runsc", "fs/overlayfs", "0% (0/211)"),
        (1, "runc", "net/core", "48,000"),
        (1, "runsc", "net/core", "7,100"),
        (1, "qemu", "net/core", "1,000,000"),
        (1, "runc", "fs/overlayfs", "40"),
        (1, "runsc", "fs/overlayfs", "0"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|&(p, s, g, v)| (p, s.to_owned(), g.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(figure.values(), expected);
    // The group labels are in the same order, top down.
    let row = |name: &str| figure.texts.iter().find(|t| t.text == name).unwrap().y;
    assert!(row("net/core") < row("fs/overlayfs"));
}

#[test]
fn platforms_keep_their_colour_across_figures() {
    // The study's palette, and a figure with only some of its platforms in another order.
    let study = Palette::new(["bare", "runc", "runsc", "qemu", "custom"]);
    let counts = Overview {
        runs: strings(&["bare", "runc", "runsc", "qemu", "custom"]),
        kernel_release: "6.12.117+deb12-cloud-amd64".to_owned(),
        measure: Measure::Counted,
        benchmarks: vec![
            Group {
                name: "cpu".to_owned(),
                runs: vec![Some(310), Some(355), Some(1204), None, Some(7)],
            },
            Group {
                name: "network".to_owned(),
                runs: vec![Some(2950), Some(3120), Some(4001), Some(0), Some(9)],
            },
        ],
    };
    let overview = Figure::parse(&svg(&overview(&counts, &study)).unwrap());
    let mut input = network();
    input.runs = strings(&["qemu", "custom", "runsc"]);
    let network = Figure::parse(&svg(&coverage(&input, &study)).unwrap());
    overview.check_layout();
    network.check_layout();
    for platform in ["qemu", "runsc", "custom"] {
        assert_eq!(overview.legend_colour(platform), network.legend_colour(platform), "{platform}");
    }
    assert_eq!(overview.legend_colour("runsc"), "#009e73");
    assert_eq!(overview.legend_colour("qemu"), "#d55e00");
}

#[test]
fn overview_counts_distinct_functions_per_benchmark() {
    let counts = Overview {
        runs: strings(&["bare", "runsc"]),
        kernel_release: "6.18.0".to_owned(),
        measure: Measure::Sampled,
        benchmarks: vec![
            Group { name: "cpu".to_owned(), runs: vec![Some(0), None] },
            Group { name: "network".to_owned(), runs: vec![Some(1234), Some(4321)] },
        ],
    };
    let figure = Figure::parse(&svg(&overview(&counts, &Palette::new(&counts.runs))).unwrap());
    figure.check_layout();
    assert_eq!(figure.title, "Distinct host kernel functions in samples, per benchmark");
    assert!(figure.has_text(
        "platforms bare, runsc · kernel 6.18.0 · kernel samples (statistical, not counts)"
    ));
    // 4321 on a count axis: steps of 2,000 up to 6,000.
    for tick in ["0", "2,000", "4,000", "6,000"] {
        assert!(figure.has_text(tick), "tick {tick}");
    }
    assert!(figure.has_text("no bar: not run"));
    let values: Vec<_> = figure.values().into_iter().map(|(_, s, g, v)| (s, g, v)).collect();
    let expected =
        [("bare", "cpu", "0"), ("bare", "network", "1,234"), ("runsc", "network", "4,321")];
    assert_eq!(values, expected.map(|(s, g, v)| (s.to_owned(), g.to_owned(), v.to_owned())));
    // Bars are as long as their values: 4321 of the 6,000 axis, three and a half 1234s.
    let width = |series: &str, group: &str| {
        figure.bars.iter().find(|b| b.series == series && b.group == group).unwrap().w
    };
    assert!((width("runsc", "network") / width("bare", "network") - 4321.0 / 1234.0).abs() < 0.01);
    assert_eq!(width("bare", "cpu"), 0.0);
}

#[test]
fn long_names_are_never_clipped() {
    let long = "drivers/net/ethernet/mellanox/mlx5/core/steering/hws/a-very-long-directory";
    let runs = strings(&["firecracker-with-a-long-label", "lxc"]);
    let input = Coverage {
        compared: Compared::Benchmark("fileio".to_owned()),
        runs: runs.clone(),
        kernel_release: "6.1.0-57-cloud-amd64".to_owned(),
        grouping: Grouping::SourceDirectory,
        groups: Groups::Counted(vec![Group {
            name: long.to_owned(),
            runs: vec![counted(123_456, 123_457, 9_876_543_210), counted(1, 2, 3)],
        }]),
    };
    let benchmark = "fileio-with-a-benchmark-name-longer-than-any-directory-of-the-kernel-tree";
    let functions = Overview {
        runs: runs.clone(),
        kernel_release: "6.1.0-57-cloud-amd64".to_owned(),
        measure: Measure::Counted,
        benchmarks: vec![Group { name: benchmark.to_owned(), runs: vec![Some(1), None] }],
    };
    let palette = Palette::new(&runs);
    for (chart, name) in
        [(coverage(&input, &palette), long), (overview(&functions, &palette), benchmark)]
    {
        let figure = Figure::parse(&svg(&chart).unwrap());
        figure.check_layout();
        assert!(figure.has_text(name));
        assert!(figure.has_text("firecracker-with-a-long-label"));
    }
}

#[test]
fn png_is_twice_the_svg_at_192_dpi() {
    let chart = coverage(&network(), &Palette::new(["runc", "runsc", "qemu"]));
    let figure = Figure::parse(&svg(&chart).unwrap());
    let (width, height, per_metre) = png_size(&png(&chart).unwrap());
    assert_eq!((width, height), ((figure.width * 2.0) as u32, (figure.height * 2.0) as u32));
    // 192 dots per inch.
    assert_eq!(per_metre, 7559);
}

#[test]
fn files_are_written_whole_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let chart = coverage(&network(), &Palette::new(["runc", "runsc", "qemu"]));
    let svg_path = dir.path().join("network.svg");
    write(&svg_path, &chart, false).unwrap();
    assert!(std::fs::read_to_string(&svg_path).unwrap().starts_with("<svg "));
    let png_path = dir.path().join("network.PNG");
    write(&png_path, &chart, false).unwrap();
    assert!(std::fs::read(&png_path).unwrap().starts_with(b"\x89PNG"));
    assert!(write(&png_path, &chart, false).unwrap_err().to_string().contains("--force"));
    write(&png_path, &chart, true).unwrap();
    let jpg = dir.path().join("network.jpg");
    let checked = check_target(&jpg, false).unwrap_err().to_string();
    assert!(checked.contains("must end in .svg or .png"), "{checked}");
    assert!(check_target(&svg_path, false).unwrap_err().to_string().contains("--force"));
    check_target(&svg_path, true).unwrap();
    assert!(
        write(&jpg, &chart, false).unwrap_err().to_string().contains("must end in .svg or .png")
    );
    // Only the two figures: no temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}
