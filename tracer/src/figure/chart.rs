//! The model every figure is built as: a grouped horizontal bar chart. Groups (source
//! directories, modules, benchmarks) are rows; each series (a platform or a run) has one bar
//! per group; panels side by side share the groups and differ in what the bars measure.
use super::palette::Colour;

#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    /// What is compared: the runs or platforms, benchmark, kernel release, counted or sampled.
    pub subtitle: String,
    pub series: Vec<Series>,
    pub groups: Vec<String>,
    pub panels: Vec<Panel>,
    /// What a missing bar means ("not attached", "not run"); the legend says it when a bar
    /// is missing.
    pub absent: String,
    /// Lines under the chart: what was left out, how to read a figure.
    pub notes: Vec<String>,
}

/// A platform or run: its name in the legend and the colour of its bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub colour: Colour,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Above the panel: what the bars measure, with the unit.
    pub heading: String,
    pub axis: Axis,
    /// `bars[group][series]`.
    pub bars: Vec<Vec<Bar>>,
}

/// The scale of a panel's axis; its ticks are labelled with values and units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// 0 to 100 %.
    Percent,
    /// 0 up to a round number above the largest value.
    Count,
    /// Powers of ten from 1 (10⁰) up to the one above the largest value: entries and samples
    /// span many orders of magnitude.
    Log10,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Bar {
    /// Nothing to show (nothing attached there, the platform did not run): no bar, no label.
    Absent,
    /// A value (possibly zero) on the panel's axis, and the text printed at the bar's end.
    Value { value: f64, label: String },
}

impl Bar {
    /// A count, printed exactly with thousands separators.
    pub fn count(n: u64) -> Self {
        Self::Value { value: n as f64, label: thousands(n) }
    }

    /// `part` of `whole` as a percentage, printed with both numbers ("30% (3/10)"); absent
    /// when `whole` is zero.
    pub fn share(part: u64, whole: u64) -> Self {
        if whole == 0 {
            return Self::Absent;
        }
        let percent = part as f64 * 100.0 / whole as f64;
        let label =
            format!("{} ({}/{})", percent_label(percent), thousands(part), thousands(whole));
        Self::Value { value: percent, label }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A share in percent, as precise as it needs to be to tell it from 0 and 100.
fn percent_label(p: f64) -> String {
    if p == 0.0 {
        "0%".to_owned()
    } else if p < 0.1 {
        "<0.1%".to_owned()
    } else if p > 99.9 && p < 100.0 {
        ">99.9%".to_owned()
    } else if p < 10.0 || (p > 99.0 && p < 100.0) {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_exact_and_readable() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let label = |part, whole| match Bar::share(part, whole) {
            Bar::Value { label, .. } => label,
            Bar::Absent => "absent".to_owned(),
        };
        assert_eq!(label(3, 10), "30% (3/10)");
        assert_eq!(label(0, 10), "0% (0/10)");
        assert_eq!(label(1, 3), "33% (1/3)");
        assert_eq!(label(1, 40), "2.5% (1/40)");
        assert_eq!(label(1, 37_783), "<0.1% (1/37,783)");
        assert_eq!(label(999, 1000), "99.9% (999/1,000)");
        assert_eq!(label(9999, 10_000), ">99.9% (9,999/10,000)");
        assert_eq!(label(10, 10), "100% (10/10)");
        assert_eq!(label(0, 0), "absent");
        assert_eq!(Bar::count(12_345), Bar::Value { value: 12345.0, label: "12,345".to_owned() });
    }
}
