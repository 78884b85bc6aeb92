//! The `kernel_lines` section of a report: hits per source line and traced cgroup, summed
//! over a function's copies, with each copy's share (docs/json-schema.md). With `--irq
//! separate` a line's hits in interrupt context are apart, as a function's entries are.
use serde::{Deserialize, Serialize};

use super::{FunctionCopy, LinePlan, SourceFunction};
use crate::{
    attach::{IrqMode, SkippedProbe},
    collect::Overhead,
    report::{CounterRows, Hits, Kind},
};

/// Exact counts of source line hits, per function asked for with `--lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineReport {
    /// Always [`Kind::Counts`]: every figure is a number of hits.
    pub kind: Kind,
    /// Probes attached.
    pub probes: usize,
    /// Probes the kernel (or the image) refused, with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub skipped: Vec<SkippedLineProbe>,
    pub overhead: Overhead,
    /// What hits in interrupt context count for (`--irq`), as for functions. Left out for
    /// `task`, which is what records from before it counted lines as alone.
    #[serde(default = "IrqMode::before_irq", skip_serializing_if = "IrqMode::is_task")]
    pub irq: IrqMode,
    pub functions: Vec<LineFunction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLineProbe {
    pub symbol: String,
    pub offset: u64,
    pub lines: Vec<u32>,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineFunction {
    /// Flattened: its keys come first, as in records from before it was a type of its own.
    #[serde(flatten)]
    pub function: SourceFunction,
    /// Its out-of-line body and inlined copies.
    pub copies: Vec<FunctionCopy>,
    /// Its lines with code, in source order.
    pub lines: Vec<LineCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCount {
    pub line: u32,
    /// The line's text, when traced with `--source`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// Hits summed over copies.
    #[serde(flatten)]
    pub hits: Hits,
    /// Attached probes counting this line; 0: not counted at all.
    pub probes: usize,
    /// Hits per cgroup in each copy where the line starts.
    pub copies: Vec<CopyCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyCount {
    #[serde(flatten)]
    pub copy: FunctionCopy,
    #[serde(flatten)]
    pub hits: Hits,
}

impl LineReport {
    /// Every line some attached probe counts, with its function, in source order. A line
    /// whose probes were all refused has no figure and is left out, not shown as never run.
    pub fn counted(&self) -> impl Iterator<Item = (&LineFunction, &LineCount)> {
        self.functions
            .iter()
            .flat_map(|f| f.lines.iter().map(move |l| (f, l)))
            .filter(|(_, l)| l.probes > 0)
    }

    /// `rows[row][probe]` are the hits of `plan.probes[probe]`, rows as
    /// [`FunctionReport::new`](crate::report::FunctionReport::new) takes them; `skipped` the
    /// probes that are not attached.
    pub fn new(
        plan: &LinePlan,
        (rows, irq): (&[Vec<u64>], IrqMode),
        skipped: &[SkippedProbe],
        overhead: Overhead,
    ) -> Self {
        let rows = CounterRows::split(rows, irq);
        let cgroups = rows.task.len();
        let attached = |probe: usize| !skipped.iter().any(|s| s.probe == probe);
        let functions =
            plan.functions
                .iter()
                .enumerate()
                .map(|(f, planned)| {
                    let lines = planned
                        .lines
                        .iter()
                        .map(|source| {
                            let mut line = LineCount {
                                line: source.line,
                                text: source.text.clone(),
                                hits: Hits::zero(cgroups, irq),
                                probes: 0,
                                copies: Vec::new(),
                            };
                            let here =
                                plan.probes.iter().enumerate().filter(|(_, p)| {
                                    p.function == f && p.lines.contains(&source.line)
                                });
                            for (i, probe) in here {
                                let copy = &planned.copies[probe.copy];
                                let at = match line.copies.iter().position(|c| c.copy == *copy) {
                                    Some(at) => at,
                                    None => {
                                        line.copies.push(CopyCount {
                                            copy: copy.clone(),
                                            hits: Hits::zero(cgroups, irq),
                                        });
                                        line.copies.len() - 1
                                    }
                                };
                                if !attached(i) {
                                    continue;
                                }
                                line.probes += 1;
                                let hits = rows.of(i);
                                line.hits.add(&hits);
                                line.copies[at].hits.add(&hits);
                            }
                            line
                        })
                        .collect();
                    LineFunction {
                        function: planned.function.clone(),
                        copies: planned.copies.clone(),
                        lines,
                    }
                })
                .collect();
        Self {
            kind: Kind::Counts,
            probes: plan.probes.len() - skipped.len(),
            skipped: skipped
                .iter()
                .map(|s| {
                    let p = &plan.probes[s.probe];
                    SkippedLineProbe {
                        symbol: p.symbol.clone(),
                        offset: p.offset,
                        lines: p.lines.clone(),
                        error: s.error.clone(),
                    }
                })
                .collect(),
            overhead,
            irq,
            functions,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::lines::{FunctionLines, Probe, SourceLine};

    fn copy(container: &str, call_site: Option<&str>) -> FunctionCopy {
        FunctionCopy { container: container.to_owned(), call_site: call_site.map(str::to_owned) }
    }

    fn probe(copy: usize, symbol: &str, offset: u64, lines: &[u32]) -> Probe {
        Probe {
            function: 0,
            copy,
            symbol: symbol.to_owned(),
            offset,
            lines: lines.to_vec(),
            unprobeable: None,
        }
    }

    /// `__is_skb_forwardable` in two copies: `__dev_forward_skb2` (lines 4070, 4077, 4083)
    /// and `is_skb_forwardable` (4070, then 4077 sharing an address with 4073).
    pub(crate) fn plan() -> LinePlan {
        let lines = [4070, 4073, 4077, 4083];
        LinePlan {
            functions: vec![FunctionLines {
                function: SourceFunction {
                    name: "__is_skb_forwardable".to_owned(),
                    file: "include/linux/netdevice.h".to_owned(),
                    decl_line: 4063,
                    body: None,
                },
                copies: vec![
                    copy("__dev_forward_skb2", Some("include/linux/netdevice.h:4108:6")),
                    copy("is_skb_forwardable", Some("net/core/dev.c:2256:9")),
                ],
                lines: lines
                    .iter()
                    .map(|&line| SourceLine {
                        line,
                        text: (line == 4070).then(|| "if (!(dev->flags & IFF_UP))".to_owned()),
                    })
                    .collect(),
            }],
            probes: vec![
                probe(0, "__dev_forward_skb2", 54, &[4070]),
                probe(0, "__dev_forward_skb2", 71, &[4077]),
                probe(0, "__dev_forward_skb2", 90, &[4083]),
                probe(1, "is_skb_forwardable", 9, &[4070]),
                probe(1, "is_skb_forwardable", 20, &[4073, 4077]),
            ],
            vmlinux: "vmlinux".into(),
            analysis: Duration::ZERO,
        }
    }

    /// Two cgroups: `net` hit the `__dev_forward_skb2` copy 40 times (5 of them too long)
    /// and the wrapper 3 times; `idle` nothing. The wrapper's second probe was refused.
    pub(crate) fn report() -> LineReport {
        let counts = [vec![40, 40, 5, 3, 0], vec![0; 5]];
        let skipped = [SkippedProbe { probe: 4, error: "not an instruction boundary".into() }];
        LineReport::new(&plan(), (&counts, IrqMode::Task), &skipped, Overhead::default())
    }

    /// One cgroup whose probes of [`plan`] were hit `[task, in interrupts while it ran, the
    /// machine's interrupts]` times, counted with `--irq separate`, all attached.
    pub(crate) fn report_apart_of(rows: [[u64; 5]; 3]) -> LineReport {
        let rows = rows.map(|row| row.to_vec());
        LineReport::new(&plan(), (&rows, IrqMode::Separate), &[], Overhead::default())
    }

    /// One cgroup whose probes of [`plan`] were hit `counts` times, all attached.
    pub(crate) fn report_of(counts: [u64; 5]) -> LineReport {
        LineReport::new(&plan(), (&[counts.to_vec()], IrqMode::Task), &[], Overhead::default())
    }

    #[test]
    fn hits_are_summed_over_copies_and_kept_per_copy() {
        let r = report();
        assert_eq!((r.kind, r.probes, r.skipped.len()), (Kind::Counts, 4, 1));
        assert_eq!(r.skipped[0].lines, [4073, 4077]);
        let f = &r.functions[0];
        let rows: Vec<_> =
            f.lines.iter().map(|l| (l.line, l.hits.counts.clone(), l.probes)).collect();
        assert_eq!(
            rows,
            [
                (4070, vec![43, 0], 2),
                (4073, vec![0, 0], 0),
                (4077, vec![40, 0], 1),
                (4083, vec![5, 0], 1)
            ]
        );
        let per_copy: Vec<_> = f.lines[0]
            .copies
            .iter()
            .map(|c| (c.copy.container.as_str(), c.hits.counts.clone()))
            .collect();
        assert_eq!(
            per_copy,
            [("__dev_forward_skb2", vec![40, 0]), ("is_skb_forwardable", vec![3, 0])]
        );
        assert_eq!(f.lines[0].text.as_deref(), Some("if (!(dev->flags & IFF_UP))"));
        assert_eq!(r.irq, IrqMode::Task);
        assert!(f.lines.iter().all(|l| l.hits.interrupts.columns().next().is_none()));
    }

    /// [`plan`] counted with `--irq separate` for `net` and `idle`: `net`'s tasks hit the
    /// `__dev_forward_skb2` copy's first line 4 times; in interrupts while `net` ran it was hit
    /// 30 times, and 2 times while `idle` ran; the machine's interrupts hit it 50 times, the
    /// wrapper's first line 6 times. The wrapper's second probe was refused.
    pub(crate) fn report_apart() -> LineReport {
        let rows = [
            vec![4, 0, 0, 0, 0],
            vec![0; 5],
            vec![30, 0, 0, 0, 0],
            vec![2, 0, 0, 0, 0],
            vec![50, 0, 0, 6, 9],
        ];
        let skipped = [SkippedProbe { probe: 4, error: "not an instruction boundary".into() }];
        LineReport::new(&plan(), (&rows, IrqMode::Separate), &skipped, Overhead::default())
    }

    #[test]
    fn hits_in_interrupts_are_kept_apart_with_irq_separate() {
        let r = report_apart();
        assert_eq!(r.irq, IrqMode::Separate);
        let f = &r.functions[0];
        let rows: Vec<_> = f
            .lines
            .iter()
            .map(|l| {
                let (h, i) = (&l.hits, &l.hits.interrupts);
                (l.line, h.counts.clone(), i.in_interrupts.clone(), i.all_interrupts)
            })
            .collect();
        assert_eq!(
            rows,
            [
                (4070, vec![4, 0], vec![30, 2], Some(56)),
                // Not counted: its only probe was refused (the 9 hits are not its).
                (4073, vec![0, 0], vec![0, 0], Some(0)),
                (4077, vec![0, 0], vec![0, 0], Some(0)),
                (4083, vec![0, 0], vec![0, 0], Some(0)),
            ]
        );
        let per_copy: Vec<_> = f.lines[0]
            .copies
            .iter()
            .map(|c| (c.hits.counts.clone(), c.hits.interrupts.all_interrupts))
            .collect();
        assert_eq!(per_copy, [(vec![4, 0], Some(50)), (vec![0, 0], Some(6))]);
        let json = serde_json::to_value(&r).unwrap();
        let line = &json["functions"][0]["lines"][0];
        assert_eq!(
            (&line["in_interrupts"], &line["all_interrupts"]),
            (&json!([30, 2]), &json!(56))
        );
        assert_eq!(line["copies"][1]["all_interrupts"], 6);
        assert_eq!(json["irq"], "separate");
        let back: LineReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn serializes_and_reads_back() {
        let r = report();
        let json = serde_json::to_value(&r).unwrap();
        let line = &json["functions"][0]["lines"][0];
        assert_eq!(line["copies"][0]["container"], "__dev_forward_skb2");
        assert_eq!(line["copies"][0]["call_site"], "include/linux/netdevice.h:4108:6");
        assert_eq!(json["functions"][0]["lines"][1].get("text"), None);
        assert_eq!(line["counts"], json!([43, 0]));
        assert_eq!((line.get("in_interrupts"), line.get("all_interrupts")), (None, None));
        assert_eq!(json.get("irq"), None);
        let back: LineReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    /// A function's identity is flattened into it: its keys lead, in the order records have
    /// always had, and `body` is left out when there is none.
    #[test]
    fn a_function_keeps_the_keys_and_order_of_records() {
        let mut f = report().functions.remove(0);
        let text = serde_json::to_string(&f).unwrap();
        let head = r#"{"name":"__is_skb_forwardable","file":"include/linux/netdevice.h","decl_line":4063,"copies":["#;
        assert!(text.starts_with(head), "{text}");
        f.function.body = Some("inner".to_owned());
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains(r#""decl_line":4063,"body":"inner","copies":["#), "{text}");
        let back: LineFunction = serde_json::from_str(&text).unwrap();
        assert_eq!(back, f);
    }
}
