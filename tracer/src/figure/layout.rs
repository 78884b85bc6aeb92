//! Places a [`BarChart`] on a page: a [`Scene`] of rectangles and text in CSS pixels, which
//! the SVG and PNG writers draw as they are. Every margin is sized from the measured text,
//! so no label is clipped; panels are wide enough that each bar's value fits either after
//! the bar or inside it.
use super::{
    chart::{Axis, Bar, BarChart, thousands},
    font::Fonts,
    palette::Colour,
};

/// What the writers draw, in CSS pixels from the top left.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub width: f32,
    pub height: f32,
    pub title: String,
    pub shapes: Vec<Shape>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Rect(Rect),
    Text(Text),
    /// One bar with its printed value; `tip` (series, group and value) is the SVG tooltip.
    Bar {
        tip: String,
        rect: Rect,
        value: Text,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub fill: Colour,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub x: f32,
    /// The baseline.
    pub y: f32,
    /// Pixels per em.
    pub size: f32,
    pub bold: bool,
    pub anchor: Anchor,
    pub fill: Colour,
    pub text: String,
}

/// Which end of the text `x` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

const MARGIN: f32 = 16.0;
const TITLE: f32 = 17.0;
const SUBTITLE: f32 = 12.0;
const LEGEND: f32 = 12.0;
const HEADING: f32 = 12.0;
const GROUP: f32 = 12.0;
const TICK: f32 = 11.0;
const VALUE: f32 = 10.0;
const NOTE: f32 = 11.0;
/// Height of one bar and the space between two bars of a group.
const BAR: f32 = 12.0;
const BAR_GAP: f32 = 2.0;
/// Space above the first and below the last bar of a group.
const GROUP_PAD: f32 = 5.0;
const MIN_PANEL: f32 = 320.0;
const PANEL_GAP: f32 = 48.0;
/// Between a group's label and the first panel, a bar's end and its value, a legend swatch
/// and its name.
const GAP: f32 = 8.0;
const SWATCH: f32 = 12.0;
const TICK_MARK: f32 = 4.0;

/// The baseline that centres text of `size` on `middle` (DejaVu's capitals are 0.73 em).
fn centred(middle: f32, size: f32) -> f32 {
    middle + 0.36 * size
}

/// A panel's axis, its range set by the panel's largest value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Percent,
    /// `steps` ticks of `step` past zero.
    Count {
        step: u64,
        steps: u64,
    },
    /// From 10⁰ to 10^`decades`.
    Log10 {
        decades: u32,
    },
}

impl Scale {
    fn new(axis: Axis, bars: &[Vec<Bar>]) -> Self {
        let largest = bars
            .iter()
            .flatten()
            .filter_map(|b| match b {
                Bar::Value { value, .. } => Some(*value),
                Bar::Absent => None,
            })
            .fold(0.0, f64::max);
        match axis {
            Axis::Percent => Self::Percent,
            Axis::Count => {
                // A round step (1, 2 or 5 times a power of ten) giving about four ticks.
                let step = (0..=18)
                    .flat_map(|e| [1, 2, 5].map(|m| m * 10u64.pow(e)))
                    .find(|&step| step as f64 * 4.0 >= largest)
                    .unwrap_or(5 * 10u64.pow(18));
                Self::Count { step, steps: ((largest / step as f64).ceil() as u64).max(1) }
            }
            Axis::Log10 => Self::Log10 { decades: largest.log10().ceil().max(1.0) as u32 },
        }
    }

    /// (position as a fraction of the panel's width, label) of each tick.
    fn ticks(self) -> Vec<(f32, String)> {
        match self {
            Self::Percent => (0..=4).map(|i| (i as f32 / 4.0, format!("{}%", i * 25))).collect(),
            Self::Count { step, steps } => {
                (0..=steps).map(|i| (i as f32 / steps as f32, thousands(i * step))).collect()
            }
            Self::Log10 { decades } => {
                (0..=decades).map(|d| (d as f32 / decades as f32, power_of_ten(d))).collect()
            }
        }
    }

    /// Where a bar of `value` ends, as a fraction of the panel's width.
    fn fraction(self, value: f64) -> f32 {
        let f = match self {
            Self::Percent => value / 100.0,
            Self::Count { step, steps } => value / (step * steps) as f64,
            // 0 and 1 both sit at the axis; their printed values tell them apart.
            Self::Log10 { .. } if value <= 1.0 => 0.0,
            Self::Log10 { decades } => value.log10() / f64::from(decades),
        };
        f.clamp(0.0, 1.0) as f32
    }
}

/// `10` with a superscript exponent, as papers label log axes.
fn power_of_ten(exponent: u32) -> String {
    const SUPERSCRIPT: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits = exponent.to_string();
    let superscript = digits.bytes().map(|d| SUPERSCRIPT[usize::from(d - b'0')]);
    "10".chars().chain(superscript).collect()
}

/// Where the columns go: group labels, then the panels side by side.
struct Columns {
    width: f32,
    /// The right edge of the group labels is `GAP` left of this.
    plot_x: f32,
    /// Left edge of each panel.
    panel_x: Vec<f32>,
    panel_w: f32,
}

impl Columns {
    /// Sizes every column from the text it must hold; panels are wide enough for each value
    /// to fit after its bar or, when the bar is long, inside it.
    fn measure(chart: &BarChart, scales: &[Scale], fonts: &Fonts) -> Self {
        let widest = |widths: &mut dyn Iterator<Item = f32>| widths.fold(0.0, f32::max);
        let regular = |text: &str, size: f32| fonts.width(text, size, false);
        let label_w = widest(&mut chart.groups.iter().map(|g| regular(g, GROUP)));
        let value_w = widest(&mut chart.panels.iter().flat_map(|p| p.bars.iter().flatten()).map(
            |b| match b {
                Bar::Value { label, .. } => regular(label, VALUE),
                Bar::Absent => 0.0,
            },
        ));
        let tick_w =
            widest(&mut scales.iter().flat_map(|s| s.ticks()).map(|(_, l)| regular(&l, TICK)));
        let heading_w =
            widest(&mut chart.panels.iter().map(|p| fonts.width(&p.heading, HEADING, true)));
        let text_w = widest(
            &mut [fonts.width(&chart.title, TITLE, true), regular(&chart.subtitle, SUBTITLE)]
                .into_iter()
                .chain(chart.notes.iter().map(|n| regular(n, NOTE))),
        );
        let panels = chart.panels.len().max(1) as f32;
        let plot_x = MARGIN + label_w + GAP;
        let gap = PANEL_GAP.max(tick_w + 2.0 * GAP);
        let right = MARGIN.max(tick_w / 2.0 + 4.0);
        let panel_w = MIN_PANEL.max(2.0 * (value_w + GAP)).max(heading_w);
        let plots_w = panels * panel_w + (panels - 1.0) * gap;
        let width = (plot_x + plots_w + right).max(2.0 * MARGIN + text_w).ceil();
        // Panels take any width the title or notes ask for beyond theirs.
        let panel_w = panel_w + (width - plot_x - plots_w - right) / panels;
        let panel_x = (0..chart.panels.len())
            .map(|i| (plot_x + i as f32 * (panel_w + gap)).round())
            .collect();
        Self { width, plot_x, panel_x, panel_w }
    }
}

/// The scene being laid out, top down: `y` is where the next part starts.
struct Page<'a> {
    fonts: &'a Fonts,
    y: f32,
    shapes: Vec<Shape>,
    /// Drawn last, over the shapes.
    texts: Vec<Text>,
}

impl Page<'_> {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Colour) {
        self.shapes.push(Shape::Rect(Rect { x, y, w, h, fill }));
    }

    fn text(&mut self, text: Text) {
        self.texts.push(text);
    }

    /// Title and subtitle.
    fn header(&mut self, chart: &BarChart) {
        let title =
            text(MARGIN, self.y + TITLE * 0.8, TITLE, Anchor::Start, Colour::INK, &chart.title);
        self.text(Text { bold: true, ..title });
        self.y += TITLE * 1.4;
        let subtitle = &chart.subtitle;
        self.text(text(
            MARGIN,
            self.y + SUBTITLE * 0.8,
            SUBTITLE,
            Anchor::Start,
            Colour::MUTED,
            subtitle,
        ));
        self.y += SUBTITLE * 1.5 + 6.0;
    }

    /// A swatch and a name per series, then what a missing bar means; wrapped to `width`.
    fn legend(&mut self, chart: &BarChart, width: f32) {
        let mut items: Vec<(Option<Colour>, String)> =
            chart.series.iter().map(|s| (Some(s.colour), s.name.clone())).collect();
        if chart.panels.iter().flat_map(|p| p.bars.iter().flatten()).any(|b| *b == Bar::Absent) {
            items.push((None, format!("no bar: {}", chart.absent)));
        }
        let mut x = MARGIN;
        for (colour, name) in items {
            let swatch_w = if colour.is_some() { SWATCH + GAP / 2.0 } else { 0.0 };
            let item_w = swatch_w + self.fonts.width(&name, LEGEND, false);
            if x > MARGIN && x + item_w > width - MARGIN {
                x = MARGIN;
                self.y += LEGEND * 1.5;
            }
            let baseline = centred(self.y + SWATCH / 2.0, LEGEND);
            let ink = match colour {
                Some(fill) => {
                    self.rect(x, self.y, SWATCH, SWATCH, fill);
                    Colour::INK
                }
                None => Colour::MUTED,
            };
            self.text(text(x + swatch_w, baseline, LEGEND, Anchor::Start, ink, &name));
            x += item_w + 2.0 * GAP;
        }
        self.y += LEGEND * 1.5 + 8.0;
    }

    /// The panels' headings, the groups (labels, bands) and each panel's axis and bars.
    fn plots(&mut self, chart: &BarChart, scales: &[Scale], columns: &Columns) {
        for (panel, &x) in chart.panels.iter().zip(&columns.panel_x) {
            let heading = text(
                x,
                self.y + HEADING * 0.8,
                HEADING,
                Anchor::Start,
                Colour::INK,
                &panel.heading,
            );
            self.text(Text { bold: true, ..heading });
        }
        self.y += HEADING * 1.5;
        let top = self.y.round();
        let group_h = chart.series.len() as f32 * (BAR + BAR_GAP) - BAR_GAP + 2.0 * GROUP_PAD;
        let bottom = top + chart.groups.len() as f32 * group_h;
        for (g, name) in chart.groups.iter().enumerate() {
            let y = top + g as f32 * group_h;
            // Every other group on a band across labels and panels, to follow a row.
            if g % 2 == 1 {
                self.rect(MARGIN / 2.0, y, columns.width - MARGIN, group_h, Colour::BAND);
            }
            let baseline = centred(y + group_h / 2.0, GROUP);
            self.text(text(columns.plot_x - GAP, baseline, GROUP, Anchor::End, Colour::INK, name));
        }
        for ((panel, &scale), &x0) in chart.panels.iter().zip(scales).zip(&columns.panel_x) {
            let w = columns.panel_w;
            for (f, label) in scale.ticks() {
                let x = (x0 + f * w).round();
                if f > 0.0 {
                    self.rect(x, top, 1.0, bottom - top, Colour::GRID);
                }
                self.rect(x, bottom, 1.0, TICK_MARK, Colour::INK);
                let baseline = bottom + TICK_MARK + TICK * 1.1;
                self.text(text(x + 0.5, baseline, TICK, Anchor::Middle, Colour::MUTED, &label));
            }
            // The axis: the zero line and the baseline under the groups.
            self.rect(x0, top, 1.0, bottom - top, Colour::INK);
            self.rect(x0, bottom, w.round() + 1.0, 1.0, Colour::INK);
            // Zipped, so a group or series without its bar (or a bar without them) is skipped.
            for (g, (group, bars)) in chart.groups.iter().zip(&panel.bars).enumerate() {
                for (s, (series, bar)) in chart.series.iter().zip(bars).enumerate() {
                    let Bar::Value { value, label } = bar else { continue };
                    let y = top + g as f32 * group_h + GROUP_PAD + s as f32 * (BAR + BAR_GAP);
                    let length = scale.fraction(*value) * w;
                    let rect = Rect { x: x0 + 1.0, y, w: length, h: BAR, fill: series.colour };
                    let value = self.value(&rect, label, x0 + w);
                    let tip = format!("{}, {group}: {label}", series.name);
                    self.shapes.push(Shape::Bar { tip, rect, value });
                }
            }
        }
        self.y = bottom + TICK_MARK + TICK * 1.1;
    }

    /// A bar's printed value: after its end when it fits before `right`, else inside it.
    fn value(&self, bar: &Rect, label: &str, right: f32) -> Text {
        let baseline = centred(bar.y + BAR / 2.0, VALUE);
        let end = bar.x + bar.w;
        if end + GAP / 2.0 + self.fonts.width(label, VALUE, false) <= right {
            text(end + GAP / 2.0, baseline, VALUE, Anchor::Start, Colour::INK, label)
        } else {
            let ink = if bar.fill.is_light() { Colour::INK } else { Colour::WHITE };
            text(end - GAP / 2.0, baseline, VALUE, Anchor::End, ink, label)
        }
    }

    /// Notes under the tick labels, from the baseline `y` is at.
    fn notes(&mut self, chart: &BarChart) {
        for note in &chart.notes {
            self.y += NOTE * 1.7;
            self.text(text(MARGIN, self.y, NOTE, Anchor::Start, Colour::MUTED, note));
        }
    }
}

fn text(x: f32, y: f32, size: f32, anchor: Anchor, fill: Colour, text: &str) -> Text {
    Text { x, y, size, bold: false, anchor, fill, text: text.to_owned() }
}

pub fn layout(chart: &BarChart, fonts: &Fonts) -> Scene {
    let scales: Vec<Scale> = chart.panels.iter().map(|p| Scale::new(p.axis, &p.bars)).collect();
    let columns = Columns::measure(chart, &scales, fonts);
    let mut page = Page { fonts, y: MARGIN, shapes: Vec::new(), texts: Vec::new() };
    page.header(chart);
    page.legend(chart, columns.width);
    page.plots(chart, &scales, &columns);
    page.notes(chart);
    // A margin below the last baseline, descenders included.
    let height = (page.y + 4.0 + MARGIN).ceil();
    let mut shapes = page.shapes;
    shapes.extend(page.texts.into_iter().map(Shape::Text));
    Scene { width: columns.width, height, title: chart.title.clone(), shapes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_get_round_ticks() {
        let scale =
            |axis, largest: u64| Scale::new(axis, &[vec![Bar::count(largest), Bar::Absent]]);
        let count = |largest| match scale(Axis::Count, largest) {
            Scale::Count { step, steps } => (step, steps),
            other => panic!("{other:?}"),
        };
        assert_eq!(count(0), (1, 1));
        assert_eq!(count(3), (1, 3));
        assert_eq!(count(7), (2, 4));
        assert_eq!(count(18), (5, 4));
        assert_eq!(count(4321), (2000, 3));
        let decades = |largest| match scale(Axis::Log10, largest) {
            Scale::Log10 { decades } => decades,
            other => panic!("{other:?}"),
        };
        assert_eq!([0, 10, 11, 123_456].map(decades), [1, 1, 2, 6]);
        assert_eq!(power_of_ten(0), "10⁰");
        assert_eq!(power_of_ten(12), "10¹²");
        let log = scale(Axis::Log10, 1000);
        assert_eq!(log.fraction(100.0), 2.0 / 3.0);
        assert_eq!(log.fraction(1.0), 0.0);
        assert_eq!(log.ticks()[3], (1.0, "10³".to_owned()));
        assert_eq!(scale(Axis::Percent, 7).fraction(25.0), 0.25);
        assert_eq!(scale(Axis::Count, 4321).ticks()[3], (1.0, "6,000".to_owned()));
    }
}
