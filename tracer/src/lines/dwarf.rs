//! Where the source lines of a kernel function start in the kernel's machine code, read from
//! the DWARF of its vmlinux: the function's out-of-line body and every copy the compiler
//! inlined into other functions, and in each copy the addresses where each of its lines'
//! statement rows start, as offsets into the ELF function symbol holding them. A kprobe takes
//! `symbol+offset`, so the running kernel's KASLR shift plays no part.
//!
//! A debug vmlinux is about 340 MB, 210 MB of it `.debug_info`, so only the compilation units
//! that can mention the function are parsed. A DIE names its function by an offset into
//! `.debug_str` (`DW_FORM_strp`) or by the string itself (`DW_FORM_string`): the units whose
//! bytes contain either are the candidates, found with a byte search (a chance match costs one
//! unit's parse, never a wrong answer). An image whose names go through `.debug_str_offsets`
//! (`DW_FORM_strx`, split DWARF) is parsed whole.
//!
//! Which rows belong to a copy: statement rows (`is_stmt`) at addresses within the copy's
//! ranges and in the function's own file, but not those of the function it is inlined into
//! at its entry address, nor those of a function inlined into the copy (a nested
//! `DW_TAG_inlined_subroutine`) beyond the call. Rows sharing an address are told apart by
//! their view numbers (GCC's `DW_AT_GNU_entry_view`: rows at the entry address before that
//! view are the caller's); without views only the call line's row is kept at a nested entry.
//! Consecutive rows of one line are one start: the line's code runs on from there. The row of
//! the declaration line (the function's entry) is not a line of the body and is left out.
use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    fs,
    ops::Range,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use gimli::{
    AttributeValue, DW_AT_GNU_entry_view, DW_AT_abstract_origin, DW_AT_call_column,
    DW_AT_call_file, DW_AT_call_line, DW_AT_decl_file, DW_AT_decl_line, DW_AT_entry_pc,
    DW_AT_low_pc, DW_AT_name, DW_AT_ranges, DW_AT_specification, DW_TAG_inlined_subroutine,
    DW_TAG_subprogram, EndianSlice, LittleEndian, SectionId, UnitOffset,
};
use memchr::memmem;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

use super::SourceFunction;
use crate::sources::tree_path;

type Reader<'a> = EndianSlice<'a, LittleEndian>;
type Dwarf<'a> = gimli::Dwarf<Reader<'a>>;
type Unit<'a> = gimli::Unit<Reader<'a>>;

/// Sections of discarded or freed code: no probe can stay there.
const GONE_AFTER_BOOT: &[&str] = &[".init.text", ".exit.text"];

/// A vmlinux with DWARF, mapped into memory.
pub struct DebugImage {
    path: PathBuf,
    map: memmap2::Mmap,
}

/// The code of one kernel function, by the DWARF of its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCode {
    pub function: SourceFunction,
    /// Out-of-line body first, then the inlined copies by container and call site.
    pub copies: Vec<CodeCopy>,
}

/// One copy of a function's code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeCopy {
    /// The ELF function symbol holding the copy: the function itself when out of line, else
    /// the function it was inlined into.
    pub container: String,
    /// `file:line` of the call it was inlined for; `None` for the out-of-line body.
    pub call_site: Option<String>,
    /// Where its lines start, by address.
    pub starts: Vec<LineStart>,
}

/// An address where one or more of a copy's lines start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStart {
    pub symbol: String,
    pub offset: u64,
    /// Lines whose statement rows start here, ascending.
    pub lines: Vec<u32>,
    /// Why no kprobe can go here, as far as the image tells (code freed after boot, a
    /// symbol name the kernel cannot resolve to one address).
    pub unprobeable: Option<String>,
}

impl DebugImage {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: the image is only read; a file changed underneath while mapped could give
        // wrong answers, not unsafety in this process's own memory beyond the mapping.
        let map = unsafe { memmap2::Mmap::map(&file) }
            .with_context(|| format!("mapping {}", path.display()))?;
        Ok(Self { path: path.to_owned(), map })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hex GNU build id of the image, to match it with the running kernel.
    pub fn build_id(&self) -> anyhow::Result<Option<String>> {
        let elf = self.elf()?;
        let id = elf.build_id().with_context(|| format!("reading {}", self.path.display()))?;
        Ok(id.map(|id| id.iter().map(|b| format!("{b:02x}")).collect()))
    }

    fn elf(&self) -> anyhow::Result<object::File<'_>> {
        object::File::parse(&*self.map)
            .with_context(|| format!("{} is not an ELF image", self.path.display()))
    }

    /// The code of each function named in `names`: one entry per distinct definition (two
    /// static functions may share a name), none for a name the DWARF has no code for.
    pub fn functions(&self, names: &[&str]) -> anyhow::Result<Vec<FunctionCode>> {
        let elf = self.elf()?;
        if elf.section_by_name(".gnu_debugaltlink").is_some() {
            bail!("{}: DWARF compressed with dwz is not supported", self.path.display());
        }
        let sections = Sections::load(&elf)?;
        let dwarf = sections.dwarf();
        let symbols = Symbols::read(&elf);
        let units = candidate_units(&dwarf, &sections, names)
            .with_context(|| format!("searching the DWARF of {}", self.path.display()))?;
        let mut found: BTreeMap<(usize, String, u32), Vec<CodeCopy>> = BTreeMap::new();
        let mut bodies: HashMap<(usize, String, u32), BodyVotes> = HashMap::new();
        for header in units {
            let offset = header.offset();
            let unit = dwarf.unit(header).with_context(|| {
                format!("parsing the compilation unit at {offset:?} of {}", self.path.display())
            })?;
            let scan = UnitScan::new(&dwarf, &unit, names)
                .with_context(|| format!("reading the compilation unit at {offset:?}"))?;
            for copy in scan.copies(&symbols)? {
                let key = (copy.name, copy.file, copy.decl_line);
                if let Some(body) = copy.body {
                    bodies.entry(key.clone()).or_default().add(body);
                }
                found.entry(key).or_default().push(copy.copy);
            }
        }
        Ok(found
            .into_iter()
            .map(|((name, file, decl_line), copies)| {
                let body = bodies.get(&(name, file.clone(), decl_line)).and_then(BodyVotes::winner);
                FunctionCode {
                    function: SourceFunction {
                        name: names[name].to_owned(),
                        file,
                        decl_line,
                        body,
                    },
                    copies: merge_copies(copies),
                }
            })
            .collect())
    }
}

/// The DWARF sections, uncompressed where the image compressed them.
struct Sections<'a> {
    data: HashMap<SectionId, Cow<'a, [u8]>>,
}

impl<'a> Sections<'a> {
    fn load(elf: &object::File<'a>) -> anyhow::Result<Self> {
        let mut data = HashMap::new();
        for id in [
            SectionId::DebugAbbrev,
            SectionId::DebugAddr,
            SectionId::DebugInfo,
            SectionId::DebugLine,
            SectionId::DebugLineStr,
            SectionId::DebugRanges,
            SectionId::DebugRngLists,
            SectionId::DebugStr,
            SectionId::DebugStrOffsets,
        ] {
            if let Some(section) = elf.section_by_name(id.name()) {
                let bytes = section
                    .uncompressed_data()
                    .with_context(|| format!("reading section {}", id.name()))?;
                data.insert(id, bytes);
            }
        }
        if !data.contains_key(&SectionId::DebugInfo) {
            bail!("no DWARF (.debug_info) in the image");
        }
        Ok(Self { data })
    }

    fn get(&self, id: SectionId) -> &[u8] {
        self.data.get(&id).map_or(&[], |d| d)
    }

    fn dwarf(&self) -> Dwarf<'_> {
        gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
            Ok(EndianSlice::new(self.get(id), LittleEndian))
        })
        .expect("loading from memory cannot fail")
    }
}

/// The headers of the units that may name one of `names`.
fn candidate_units<'a>(
    dwarf: &Dwarf<'a>,
    sections: &Sections<'a>,
    names: &[&str],
) -> anyhow::Result<Vec<gimli::UnitHeader<Reader<'a>>>> {
    let mut headers = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        headers.push(header);
    }
    if sections.data.contains_key(&SectionId::DebugStrOffsets) {
        return Ok(headers);
    }
    let info = sections.get(SectionId::DebugInfo);
    let strings = sections.get(SectionId::DebugStr);
    let mut hits = Vec::new();
    for name in names {
        let text = [name.as_bytes(), b"\0"].concat();
        // Every place `name\0` occurs in .debug_str is an offset a DIE may use (the linker
        // merges strings, so one name can also be the tail of another).
        for at in memmem::find_iter(strings, &text) {
            let offset = u32::try_from(at).context(".debug_str beyond 4 GiB")?;
            hits.extend(memmem::find_iter(info, &offset.to_le_bytes()));
        }
        hits.extend(memmem::find_iter(info, &text));
    }
    hits.sort_unstable();
    let mut hits = hits.into_iter().peekable();
    Ok(headers
        .into_iter()
        .filter(|h| {
            let start = h.offset().0;
            let end = start + h.length_including_self();
            while hits.next_if(|&at| at < start).is_some() {}
            hits.peek().is_some_and(|&at| at < end)
        })
        .collect())
}

/// The ELF function symbols, to turn addresses into `symbol+offset`.
struct Symbols {
    /// (address, size, name), by address.
    by_address: Vec<(u64, u64, String)>,
    /// How many function symbols carry each name: a kprobe by name needs exactly one.
    count: HashMap<String, usize>,
    /// Address ranges of sections whose code is freed or discarded.
    gone: Vec<(Range<u64>, &'static str)>,
}

impl Symbols {
    fn read(elf: &object::File<'_>) -> Self {
        let mut by_address: Vec<(u64, u64, String)> = elf
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_owned())))
            .collect();
        by_address.sort();
        let mut count = HashMap::new();
        for (_, _, name) in &by_address {
            *count.entry(name.clone()).or_insert(0) += 1;
        }
        let gone = GONE_AFTER_BOOT
            .iter()
            .filter_map(|&name| {
                let s = elf.section_by_name(name)?;
                Some((s.address()..s.address() + s.size(), name))
            })
            .collect();
        Self { by_address, count, gone }
    }

    /// The function symbol holding `address`, and the offset into it. Of symbols sharing an
    /// address (`__x64_sys_getppid` is `__do_sys_getppid`), the one DWARF calls the function
    /// there (`named`; GCC's clones add a suffix, `.isra.0`), else the first by name.
    fn locate(&self, address: u64, named: Option<&str>) -> Option<(&str, u64)> {
        let i = self.by_address.partition_point(|(a, _, _)| *a <= address).checked_sub(1)?;
        let (start, size, _) = &self.by_address[i];
        let end = match *size {
            0 => self.by_address.get(i + 1).map_or(u64::MAX, |next| next.0),
            size => start + size,
        };
        let aliases = self.by_address[..=i].iter().rev().take_while(|(a, _, _)| a == start);
        let is_named = |name: &str| named.is_some_and(|n| name.split('.').next() == Some(n));
        let (_, _, name) = aliases.clone().find(|(_, _, name)| is_named(name)).or(aliases.last())?;
        (address < end).then(|| (name.as_str(), address - start))
    }

    fn unprobeable(&self, address: u64, symbol: &str) -> Option<String> {
        if let Some((_, section)) = self.gone.iter().find(|(range, _)| range.contains(&address)) {
            return Some(format!("in {section}, code the kernel frees or discards"));
        }
        let n = self.count.get(symbol).copied().unwrap_or(0);
        (n > 1).then(|| {
            format!("{n} functions are called {symbol}: a kprobe by name cannot tell them apart")
        })
    }
}

/// The code of a subprogram or inlined subroutine.
struct Code {
    ranges: Vec<Range<u64>>,
    /// Entry address and view: rows there with a lower view precede the entry.
    entry: Option<(u64, u64)>,
}

impl Code {
    fn contains(&self, address: u64) -> bool {
        self.ranges.iter().any(|r| r.contains(&address))
    }

    /// Whether the row at (address, view) comes before this code is entered.
    fn before_entry(&self, address: u64, view: u64) -> bool {
        self.entry.is_some_and(|(pc, entry_view)| address == pc && view < entry_view)
    }
}

/// A function inlined into a copy.
struct Nested<'a> {
    code: Code,
    /// (file, line) of the call.
    call: Option<(String, u32)>,
    name: Option<&'a [u8]>,
}

/// What a unit's DIE tree says about subprograms and inlined subroutines.
#[derive(Debug)]
struct Scope<'a> {
    offset: UnitOffset,
    inlined: bool,
    /// The enclosing subprogram or inlined subroutine (lexical blocks are see-through).
    parent: Option<usize>,
    name: Option<&'a [u8]>,
    /// `DW_AT_abstract_origin` or `DW_AT_specification`.
    origin: Option<UnitOffset>,
    decl: Option<(u64, u32)>,
    /// (file, line, column) of the call an inlined copy stands for.
    call: Option<(u64, u32, u32)>,
    has_code: bool,
}

/// One copy found in a unit, before copies are grouped by function.
struct FoundCopy {
    /// Index into the names asked for.
    name: usize,
    file: String,
    decl_line: u32,
    copy: CodeCopy,
    /// For an out-of-line body: the inlined function covering most of its bytes, and how
    /// many bytes of how many it covers.
    body: Option<(String, u64, u64)>,
}

/// Votes of the out-of-line bodies of one function for the inlined function that holds it.
#[derive(Default)]
struct BodyVotes {
    bytes: u64,
    by_function: HashMap<String, u64>,
}

impl BodyVotes {
    fn add(&mut self, (function, covered, total): (String, u64, u64)) {
        self.bytes += total;
        *self.by_function.entry(function).or_default() += covered;
    }

    /// The inlined function covering at least half of the bodies' bytes.
    fn winner(&self) -> Option<String> {
        let (name, &covered) = self.by_function.iter().max_by_key(|&(_, n)| *n)?;
        (covered * 2 >= self.bytes && covered > 0).then(|| name.clone())
    }
}

struct UnitScan<'d, 'a> {
    dwarf: &'d Dwarf<'a>,
    unit: &'d Unit<'a>,
    names: &'d [&'d str],
    scopes: Vec<Scope<'a>>,
    at: HashMap<UnitOffset, usize>,
}

impl<'d, 'a> UnitScan<'d, 'a> {
    /// Reads the unit's subprograms and inlined subroutines with their nesting.
    fn new(dwarf: &'d Dwarf<'a>, unit: &'d Unit<'a>, names: &'d [&'d str]) -> anyhow::Result<Self> {
        let mut scopes: Vec<Scope> = Vec::new();
        // (depth, scope index) of the open DIEs with children; lexical blocks carry None.
        let mut open: Vec<(isize, Option<usize>)> = Vec::new();
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs()? {
            let depth = entry.depth();
            while open.last().is_some_and(|&(d, _)| d >= depth) {
                open.pop();
            }
            let tag = entry.tag();
            let scope = if tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine {
                let parent = open.iter().rev().find_map(|&(_, s)| s);
                let name = match entry.attr_value(DW_AT_name) {
                    Some(value) => Some(dwarf.attr_string(unit, value)?.slice()),
                    None => None,
                };
                let origin =
                    [DW_AT_abstract_origin, DW_AT_specification].iter().find_map(|&at| match entry
                        .attr_value(
                        at,
                    )? {
                        AttributeValue::UnitRef(offset) => Some(offset),
                        _ => None,
                    });
                let file = |at| match entry.attr_value(at)? {
                    AttributeValue::FileIndex(i) => Some(i),
                    other => other.udata_value(),
                };
                let number = |at| entry.attr_value(at)?.udata_value().map(|n| n as u32);
                scopes.push(Scope {
                    offset: entry.offset(),
                    inlined: tag == DW_TAG_inlined_subroutine,
                    parent,
                    name,
                    origin,
                    decl: file(DW_AT_decl_file).zip(number(DW_AT_decl_line)),
                    call: file(DW_AT_call_file)
                        .zip(number(DW_AT_call_line))
                        .map(|(f, l)| (f, l, number(DW_AT_call_column).unwrap_or(0))),
                    has_code: entry.has_attr(DW_AT_low_pc) || entry.has_attr(DW_AT_ranges),
                });
                Some(scopes.len() - 1)
            } else {
                None
            };
            if entry.has_children() {
                open.push((depth, scope));
            }
        }
        let at = scopes.iter().enumerate().map(|(i, s)| (s.offset, i)).collect();
        Ok(Self { dwarf, unit, names, scopes, at })
    }

    /// `f(scope)` for the scope and its origins, innermost first, until `f` answers.
    fn through_origins<T>(&self, mut i: usize, f: impl Fn(&Scope<'a>) -> Option<T>) -> Option<T> {
        // Origins chain a few steps at most (concrete -> abstract -> declaration).
        for _ in 0..8 {
            let scope = &self.scopes[i];
            if let Some(answer) = f(scope) {
                return Some(answer);
            }
            i = *self.at.get(&scope.origin?)?;
        }
        None
    }

    fn name_of(&self, i: usize) -> Option<&'a [u8]> {
        self.through_origins(i, |s| s.name)
    }

    /// Which of the names asked for scope `i` is (through its origins).
    fn asked(&self, i: usize) -> Option<usize> {
        let name = self.name_of(i)?;
        self.names.iter().position(|n| n.as_bytes() == name)
    }

    /// Where scope `i`'s code is, and where it is entered.
    fn code(&self, i: usize) -> anyhow::Result<Code> {
        let entry = self.unit.entry(self.scopes[i].offset)?;
        let mut ranges = Vec::new();
        let mut iter = self.dwarf.die_ranges(self.unit, &entry)?;
        while let Some(r) = iter.next()? {
            if r.begin < r.end {
                ranges.push(r.begin..r.end);
            }
        }
        ranges.sort_by_key(|r| r.start);
        let view = entry.attr_value(DW_AT_GNU_entry_view).and_then(|v| v.udata_value());
        let entry_pc = match entry.attr_value(DW_AT_entry_pc) {
            // DWARF 5 may give it as an offset from the start of the code.
            Some(value) => match self.dwarf.attr_address(self.unit, value)? {
                Some(address) => Some(address),
                None => value.udata_value().zip(ranges.first()).map(|(n, r)| r.start + n),
            },
            None => None,
        };
        let entry = view.map(|view| (entry_pc.or(ranges.first().map(|r| r.start)), view));
        Ok(Code { ranges, entry: entry.and_then(|(pc, view)| Some((pc?, view))) })
    }

    /// Kernel-tree path of each file of the unit's line table, by index.
    fn files(&self) -> anyhow::Result<Vec<Option<String>>> {
        let Some(program) = &self.unit.line_program else { return Ok(Vec::new()) };
        let header = program.header();
        let string = |value| -> anyhow::Result<String> {
            Ok(self.dwarf.attr_string(self.unit, value)?.to_string_lossy().into_owned())
        };
        let count = header.file_names().len() as u64;
        // DWARF 5 numbers files from 0, earlier versions from 1.
        let first = u64::from(header.version() < 5);
        let mut files = vec![None; (count + first) as usize];
        for index in first..count + first {
            let Some(file) = header.file(index) else { continue };
            let mut path = PathBuf::new();
            if let Some(dir) = file.directory(header) {
                path.push(string(dir)?);
            }
            path.push(string(file.path_name())?);
            files[index as usize] = Some(tree_path(&path));
        }
        Ok(files)
    }

    /// Every copy of an asked-for function in this unit, with its line starts.
    fn copies(&self, symbols: &Symbols) -> anyhow::Result<Vec<FoundCopy>> {
        let asked: Vec<Option<usize>> = (0..self.scopes.len()).map(|i| self.asked(i)).collect();
        // GCC may inline a function into itself (the tail it split off): such a copy is part
        // of the one around it, and what it inlines belongs to that one.
        let ancestors =
            |i: usize| std::iter::successors(self.scopes[i].parent, |&p| self.scopes[p].parent);
        let copies: Vec<(usize, usize)> = (0..self.scopes.len())
            .filter(|&i| self.scopes[i].has_code)
            .filter_map(|i| Some((i, asked[i]?)))
            .filter(|&(i, n)| !ancestors(i).any(|p| asked[p] == Some(n) && self.scopes[p].has_code))
            .collect();
        let nested_in = |j: usize, i: usize, n: usize| {
            self.scopes[j].inlined
                && asked[j] != Some(n)
                && ancestors(j).find(|&p| asked[p] != Some(n) || p == i) == Some(i)
        };
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        let files = self.files()?;
        let file_name = |index: u64| files.get(index as usize).cloned().flatten();
        // Each copy's code, and that of the functions inlined directly into it.
        let mut codes: Vec<Code> = Vec::new();
        let mut nested: Vec<Vec<Nested>> = Vec::new();
        for &(i, n) in &copies {
            codes.push(self.code(i)?);
            let mut children = Vec::new();
            for (j, scope) in self.scopes.iter().enumerate() {
                if nested_in(j, i, n) {
                    let call = scope.call.and_then(|(f, l, _)| Some((file_name(f)?, l)));
                    children.push(Nested { code: self.code(j)?, call, name: self.name_of(j) });
                }
            }
            nested.push(children);
        }
        let rows = self.rows_in(&codes)?;
        let mut found = Vec::new();
        for (k, &(i, name)) in copies.iter().enumerate() {
            let Some((file, decl_line)) =
                self.through_origins(i, |s| s.decl).and_then(|(f, l)| Some((file_name(f)?, l)))
            else {
                continue;
            };
            let mut starts: Vec<(u64, u32)> = Vec::new();
            for &Row { address, view, file: file_index, line } in &rows[k] {
                let row_file = file_name(file_index);
                // The declaration's row marks the entry, at the first statement: not a line
                // of the body.
                let body_line = row_file.as_ref() == Some(&file) && line != decl_line;
                if codes[k].before_entry(address, view) || !body_line {
                    continue;
                }
                let own = match nested[k].iter().find(|n| n.code.contains(address)) {
                    Some(n) if n.code.entry.is_some() => n.code.before_entry(address, view),
                    Some(n) => n.call.as_ref().is_some_and(|(f, l)| *f == file && *l == line),
                    None => true,
                };
                let continues = starts.last().is_some_and(|&(_, last)| last == line);
                if own && !continues {
                    starts.push((address, line));
                }
            }
            let scope = &self.scopes[i];
            // The function whose code holds the copy, as DWARF names it: the function itself
            // when out of line, else the nearest enclosing subprogram with code.
            let home = match scope.inlined {
                false => Some(self.names[name]),
                true => ancestors(i)
                    .find(|&p| !self.scopes[p].inlined && self.scopes[p].has_code)
                    .and_then(|p| self.name_of(p))
                    .and_then(|n| std::str::from_utf8(n).ok()),
            };
            let entry = codes[k].ranges.first().map(|r| r.start).unwrap_or_default();
            let container = symbols
                .locate(entry, home)
                .map_or_else(|| format!("{entry:#x}"), |(symbol, _)| symbol.to_owned());
            let call_site = scope.inlined.then(|| match scope.call {
                Some((f, l, c)) => format!("{}:{l}:{c}", file_name(f).unwrap_or_default()),
                None => "unknown call site".to_owned(),
            });
            let body = if scope.inlined { None } else { body_of(&codes[k], &nested[k]) };
            found.push(FoundCopy {
                name,
                file,
                decl_line,
                copy: CodeCopy {
                    container,
                    call_site,
                    starts: line_starts(&starts, symbols, home),
                },
                body,
            });
        }
        Ok(found)
    }

    /// The statement rows at addresses within each copy's code, in address order (rows at
    /// one address in line-table order).
    fn rows_in(&self, codes: &[Code]) -> anyhow::Result<Vec<Vec<Row>>> {
        let mut rows = vec![Vec::new(); codes.len()];
        let Some(program) = self.unit.line_program.clone() else { return Ok(rows) };
        let mut iter = program.rows();
        // GNU location views: rows at one address are numbered from 0 (every row counts).
        let mut last: Option<(u64, u64)> = None;
        while let Some((_, row)) = iter.next_row()? {
            let address = row.address();
            let view = match last {
                Some((a, v)) if a == address => v + 1,
                _ => 0,
            };
            last = if row.end_sequence() { None } else { Some((address, view)) };
            if row.end_sequence() || !row.is_stmt() {
                continue;
            }
            let Some(line) = row.line() else { continue };
            for (k, code) in codes.iter().enumerate() {
                if code.contains(address) {
                    let line = line.get() as u32;
                    rows[k].push(Row { address, view, file: row.file_index(), line });
                }
            }
        }
        for r in &mut rows {
            // Stable: rows at one address keep their order.
            r.sort_by_key(|row| row.address);
        }
        Ok(rows)
    }
}

/// A statement row of the line table.
#[derive(Clone, Copy)]
struct Row {
    address: u64,
    view: u64,
    file: u64,
    line: u32,
}

/// Groups (address, line) starts by address into [`LineStart`]s, in the symbols DWARF calls
/// `home`.
fn line_starts(starts: &[(u64, u32)], symbols: &Symbols, home: Option<&str>) -> Vec<LineStart> {
    let mut by_address: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for &(address, line) in starts {
        by_address.entry(address).or_default().push(line);
    }
    by_address
        .into_iter()
        .map(|(address, mut lines)| {
            lines.sort_unstable();
            lines.dedup();
            match symbols.locate(address, home) {
                Some((symbol, offset)) => LineStart {
                    symbol: symbol.to_owned(),
                    offset,
                    unprobeable: symbols.unprobeable(address, symbol),
                    lines,
                },
                None => LineStart {
                    symbol: format!("{address:#x}"),
                    offset: 0,
                    lines,
                    unprobeable: Some("no ELF function symbol holds this address".to_owned()),
                },
            }
        })
        .collect()
}

/// For an out-of-line body: the inlined function covering most of its bytes, with the bytes
/// it covers and the body's size.
fn body_of(code: &Code, nested: &[Nested]) -> Option<(String, u64, u64)> {
    let size = |c: &Code| c.ranges.iter().map(|r| r.end - r.start).sum::<u64>();
    let mut by_name: HashMap<&[u8], u64> = HashMap::new();
    for n in nested {
        *by_name.entry(n.name.unwrap_or_default()).or_default() += size(&n.code);
    }
    let (name, covered) = by_name.into_iter().filter(|(n, _)| !n.is_empty()).max_by_key(|e| e.1)?;
    Some((String::from_utf8_lossy(name).into_owned(), covered, size(code)))
}

/// One copy per (container, call site): the compiler may describe one inlining with several
/// DIEs (a body split by block reordering).
fn merge_copies(copies: Vec<CodeCopy>) -> Vec<CodeCopy> {
    let mut merged: BTreeMap<(bool, String, Option<String>), CodeCopy> = BTreeMap::new();
    for copy in copies {
        let key = (copy.call_site.is_some(), copy.container.clone(), copy.call_site.clone());
        match merged.get_mut(&key) {
            Some(existing) => {
                existing.starts.extend(copy.starts);
                existing.starts.sort_by(|a, b| (&a.symbol, a.offset).cmp(&(&b.symbol, b.offset)));
            }
            None => {
                merged.insert(key, copy);
            }
        }
    }
    merged.into_values().collect()
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// A device check inlined into two functions, as the kernel's `__is_skb_forwardable` is
    /// into `__dev_forward_skb2` and the `is_skb_forwardable` wrapper, and an out-of-line loop.
    const SOURCE: &str = r#"/* ktrace's DWARF analysis test */
struct dev {
	unsigned int flags;
	unsigned int mtu;
};

volatile int delivered, dropped;

static inline __attribute__((always_inline)) int forwardable(const struct dev *dev,
							     unsigned int len)
{
	if (!(dev->flags & 1))
		return 0;
	if (len <= dev->mtu)
		return 1;
	if (dev->flags & 4)
		return 1;
	return 0;
}

__attribute__((noinline)) int forward(const struct dev *dev, unsigned int len)
{
	if (!forwardable(dev, len)) {
		dropped++;
		return -1;
	}
	delivered++;
	return 0;
}

__attribute__((noinline)) int is_forwardable(const struct dev *dev, unsigned int len)
{
	return forwardable(dev, len);
}

/* Another name for forward's code, as __x64_sys_getppid is __do_sys_getppid's. */
extern int a_forward(const struct dev *dev, unsigned int len) __attribute__((alias("forward")));

__attribute__((noinline)) static int count(int n)
{
	for (int i = 0; i < n; i++)
		delivered++;
	return delivered;
}

int main(int argc, char **argv)
{
	struct dev dev = { .flags = argc, .mtu = 1500 };
	return forward(&dev, 100) + is_forwardable(&dev, 2000) + count(argc);
}
"#;

    /// The line of SOURCE that contains `text`.
    fn line_of(text: &str) -> u32 {
        SOURCE.lines().position(|l| l.contains(text)).expect("marker in SOURCE") as u32 + 1
    }

    /// SOURCE compiled with gcc -g -O2, in a directory that lives as long as the image.
    fn compiled() -> (tempfile::TempDir, DebugImage) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("lines.c");
        fs::write(&source, SOURCE).unwrap();
        let binary = dir.path().join("lines");
        let out = Command::new("gcc")
            .args(["-g", "-O2", "-o"])
            .arg(&binary)
            .arg(&source)
            .output()
            .expect("gcc must be installed");
        assert!(out.status.success(), "gcc: {}", String::from_utf8_lossy(&out.stderr));
        let image = DebugImage::open(&binary).unwrap();
        (dir, image)
    }

    fn lines(copy: &CodeCopy) -> Vec<u32> {
        copy.starts.iter().flat_map(|s| s.lines.clone()).collect()
    }

    #[test]
    fn finds_every_inlined_copy_and_its_line_starts() {
        let (_dir, image) = compiled();
        let found = image.functions(&["forwardable"]).unwrap();
        assert_eq!(found.len(), 1, "{found:#?}");
        let f = &found[0];
        assert_eq!(
            (f.function.name.as_str(), f.function.decl_line, f.function.body.as_deref()),
            ("forwardable", 9, None)
        );
        assert!(f.function.file.ends_with("lines.c"), "{}", f.function.file);
        // Named as DWARF names the function they are in, not by its alias a_forward.
        let containers: Vec<_> =
            f.copies.iter().map(|c| (c.container.as_str(), c.call_site.is_some())).collect();
        assert_eq!(containers, [("forward", true), ("is_forwardable", true)]);
        let call_site = f.copies[0].call_site.as_deref().unwrap();
        assert!(call_site.ends_with(&format!("lines.c:{}:7", line_of("if (!forwardable"))));
        let (flags, mtu, gso) =
            (line_of("dev->flags & 1"), line_of("len <= dev->mtu"), line_of("dev->flags & 4"));
        for copy in &f.copies {
            // The first statement of the body is where each copy starts.
            assert_eq!(copy.starts[0].lines, [flags], "{copy:#?}");
            assert_eq!(copy.starts[0].offset, 0, "{copy:#?}");
            let lines = lines(copy);
            assert!(lines.contains(&mtu) && lines.contains(&gso), "{copy:#?}");
            // Only the function's own lines, never its callers'.
            assert!(lines.iter().all(|l| (flags..=flags + 6).contains(l)), "{copy:#?}");
            assert!(copy.starts.iter().all(|s| s.symbol == copy.container));
            assert!(copy.starts.iter().all(|s| s.unprobeable.is_none()));
        }
        // In `forward`, each condition starts once: the three tests, in order.
        assert_eq!(lines(&f.copies[0]), [flags, mtu, gso], "{:#?}", f.copies[0]);
    }

    #[test]
    fn a_wrapper_names_the_function_that_holds_its_body() {
        let (_dir, image) = compiled();
        let found = image.functions(&["is_forwardable", "count", "no_such_function"]).unwrap();
        let names: Vec<_> = found.iter().map(|f| f.function.name.as_str()).collect();
        assert_eq!(names, ["is_forwardable", "count"]);
        let wrapper = &found[0];
        assert_eq!(wrapper.function.body.as_deref(), Some("forwardable"));
        assert_eq!(wrapper.copies.len(), 1);
        assert_eq!(wrapper.copies[0].call_site, None);
        // The loop is an out-of-line function of its own, with its lines and no body.
        let count = &found[1];
        assert_eq!((count.copies.len(), count.function.body.as_deref()), (1, None));
        let lines = lines(&count.copies[0]);
        assert!(lines.contains(&line_of("\t\tdelivered++")), "{count:#?}");
    }

    /// Against the Debian debug image in ktrace's cache (`cargo xtask test` fetches it).
    #[test]
    fn finds_is_skb_forwardable_in_debian_debug_image() {
        let Some(vmlinux) = fs::read_dir("/var/cache/ktrace/debug")
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("vmlinux")))
            .find(|p| p.is_file())
        else {
            eprintln!(
                "skipped: no debug vmlinux in /var/cache/ktrace/debug (cargo xtask test fetches one)"
            );
            return;
        };
        let image = DebugImage::open(&vmlinux).unwrap();
        let started = std::time::Instant::now();
        let found = image.functions(&["__is_skb_forwardable", "is_skb_forwardable"]).unwrap();
        eprintln!("analysis: {:.2} s\n{found:#?}", started.elapsed().as_secs_f64());
        let inner = found.iter().find(|f| f.function.name == "__is_skb_forwardable").unwrap();
        assert_eq!(inner.function.file, "include/linux/netdevice.h");
        let forward = inner
            .copies
            .iter()
            .find(|c| c.container == "__dev_forward_skb2")
            .expect("a copy inlined into __dev_forward_skb2");
        assert!(forward.call_site.is_some());
        assert!(forward.starts.iter().all(|s| s.symbol == "__dev_forward_skb2"));
        let wrapper = found.iter().find(|f| f.function.name == "is_skb_forwardable").unwrap();
        assert_eq!(wrapper.function.body.as_deref(), Some("__is_skb_forwardable"));
        assert_eq!(wrapper.function.file, "net/core/dev.c");
    }
}
