//! Renders [`Report`]s to stdout in the format chosen with `--output`, one file per format.
mod csv;
pub mod file;
pub mod folded;
mod json;
pub mod lcov;
mod table;

use std::io::{self, Write};

use anyhow::Context as _;

use crate::report::Report;

/// The formats of a report, one module each: aligned columns, JSON Lines (schema in
/// docs/json-schema.md) and tidy CSV rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Writes a stream of reports (one per interval, then the total) in one format.
pub struct Printer {
    format: Format,
    /// CSV carries one header for the whole stream.
    csv_header_written: bool,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self { format, csv_header_written: false }
    }

    pub fn print(&mut self, report: &Report) -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        self.write(&mut out, report).and_then(|()| out.flush()).context("writing to stdout")
    }

    fn write(&mut self, out: &mut impl Write, report: &Report) -> io::Result<()> {
        match self.format {
            Format::Table => table::write(out, report),
            Format::Json => json::write(out, report),
            Format::Csv => {
                csv::write(out, report, !self.csv_header_written)?;
                self.csv_header_written = true;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn csv_header_comes_once_per_stream() {
        let mut printer = Printer::new(Format::Csv);
        let mut out = Vec::new();
        printer.write(&mut out, &sample()).unwrap();
        printer.write(&mut out, &sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("scope,start_time").count(), 1);
        assert_eq!(text.lines().count(), 1 + 2 * 6);
    }
}
