//! Kernel BTF (`/sys/kernel/btf/vmlinux` and modules' split BTF): the names and type ids of
//! its functions, and the layout of its structures.
//!
//! aya-obj parses BTF but does not expose its type list, and ktrace needs little of it: the
//! FUNC records (which functions fentry can attach to) and a few field offsets (where the
//! eBPF side finds a task's cgroup). So this walks the type section itself (format:
//! Documentation/bpf/btf.rst).
use std::collections::HashMap;

use anyhow::{Context as _, bail, ensure};

const MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_FUNC: u32 = 12;
const KIND_VAR: u32 = 14;
/// Kinds that only qualify or rename another type: TYPEDEF, VOLATILE, CONST, RESTRICT,
/// TYPE_TAG.
const QUALIFIERS: [u32; 5] = [8, 9, 10, 11, 18];

/// The types of one BTF blob: vmlinux's, or a module's split BTF on top of vmlinux's.
#[derive(Debug, Default)]
pub struct Btf {
    /// Function name -> type id (ids of split BTF continue after the base's).
    pub functions: HashMap<String, u32>,
    strings: Vec<u8>,
    /// Number of types including the base's, i.e. the last type id.
    last_id: u32,
    /// The type section, and where each of its types starts in it (type id `first_id + i`).
    types: Vec<u8>,
    starts: Vec<usize>,
    first_id: u32,
}

/// What a member's type is, qualifiers and typedefs looked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An integer of this many bytes.
    Int(u32),
    Pointer,
    /// An array of this many elements (0 for a flexible array member) of this shape.
    Array(u32, Inner),
    Other,
}

/// The element shape of an [`Shape::Array`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner {
    Int(u32),
    Pointer,
    Other,
}

/// A member of a structure: its byte offset and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub offset: u32,
    pub shape: Shape,
}

/// One `struct btf_type` and what follows it.
struct Record<'a> {
    name_off: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
    trailing: &'a [u8],
}

impl Btf {
    /// Parses `data`; `base` is vmlinux's BTF when `data` is a module's split BTF.
    pub fn parse(data: &[u8], base: Option<&Btf>) -> anyhow::Result<Self> {
        let u16_at = |off: usize| -> anyhow::Result<u16> {
            Ok(u16::from_le_bytes(data.get(off..off + 2).context("BTF truncated")?.try_into()?))
        };
        let u32_at = |off: usize| -> anyhow::Result<u32> {
            Ok(u32::from_le_bytes(data.get(off..off + 4).context("BTF truncated")?.try_into()?))
        };
        ensure!(u16_at(0)? == MAGIC, "not little-endian BTF (bad magic)");
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
        let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
        let types = data
            .get(hdr_len + type_off..hdr_len + type_off + type_len)
            .context("BTF type section truncated")?
            .to_vec();
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .context("BTF string section truncated")?
            .to_vec();
        let first_id = base.map_or(0, |b| b.last_id) + 1;
        let mut btf = Self { strings, types, first_id, ..Self::default() };
        let mut pos = 0;
        while pos < btf.types.len() {
            btf.starts.push(pos);
            let record = btf.record_at(pos)?;
            pos += 12 + record.trailing.len();
        }
        btf.last_id = first_id - 1 + btf.starts.len() as u32;
        for (i, &start) in btf.starts.iter().enumerate() {
            let record = btf.record_at(start)?;
            if record.kind == KIND_FUNC {
                btf.functions.insert(btf.name(record.name_off, base)?, first_id + i as u32);
            }
        }
        Ok(btf)
    }

    /// The type record starting at `pos` in the type section.
    fn record_at(&self, pos: usize) -> anyhow::Result<Record<'_>> {
        let u32_at = |off: usize| -> anyhow::Result<u32> {
            let bytes = self.types.get(off..off + 4).context("BTF type truncated")?;
            Ok(u32::from_le_bytes(bytes.try_into()?))
        };
        let (name_off, info, size_or_type) = (u32_at(pos)?, u32_at(pos + 4)?, u32_at(pos + 8)?);
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        let len = trailing_bytes(kind, vlen)?;
        let trailing = self.types.get(pos + 12..pos + 12 + len).context("BTF type truncated")?;
        Ok(Record { name_off, kind, vlen, kind_flag: info >> 31 == 1, size_or_type, trailing })
    }

    /// The string at `off`: in the base's strings when below their size (split BTF).
    fn name(&self, off: u32, base: Option<&Btf>) -> anyhow::Result<String> {
        let base_strings = base.map_or(0, |b| b.strings.len());
        let (section, off) = match base {
            Some(b) if (off as usize) < base_strings => (&b.strings, off as usize),
            _ => (&self.strings, off as usize - base_strings),
        };
        let rest = section.get(off..).context("BTF name offset out of range")?;
        let end = rest.iter().position(|&b| b == 0).context("unterminated BTF name")?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// The record of type `id`, if this blob defines it.
    fn record(&self, id: u32) -> anyhow::Result<Record<'_>> {
        let index = id.checked_sub(self.first_id).context("BTF type id 0 or in the base")?;
        let start = *self.starts.get(index as usize).context("BTF type id out of range")?;
        self.record_at(start)
    }

    /// Member `member` of the structure `structure` (of vmlinux: no split BTF), looked for
    /// in anonymous structures and unions inside it too. Bitfields are refused.
    pub fn member(&self, structure: &str, member: &str) -> anyhow::Result<Member> {
        let id = self.structure(structure)?;
        self.member_of(id, member)?
            .with_context(|| format!("no member {member} in struct {structure} of kernel BTF"))
    }

    /// The type id of the structure `name` (of vmlinux: no split BTF), its definition rather
    /// than a declaration.
    pub fn structure(&self, name: &str) -> anyhow::Result<u32> {
        self.find(name, |r| r.kind == KIND_STRUCT && r.vlen > 0)
            .with_context(|| format!("no struct {name} in kernel BTF"))
    }

    /// The type id of the global or per-CPU variable `name` (of vmlinux: no split BTF).
    /// Kernel BTF describes per-CPU variables only (pahole's default).
    pub fn variable(&self, name: &str) -> Option<u32> {
        self.find(name, |r| r.kind == KIND_VAR)
    }

    /// The first type named `name` that `is` accepts (of vmlinux: no split BTF).
    fn find(&self, name: &str, is: impl Fn(&Record<'_>) -> bool) -> Option<u32> {
        (0..self.starts.len() as u32).map(|i| self.first_id + i).find(|&id| {
            self.record(id)
                .is_ok_and(|r| is(&r) && self.name(r.name_off, None).is_ok_and(|n| n == name))
        })
    }

    fn member_of(&self, id: u32, member: &str) -> anyhow::Result<Option<Member>> {
        let record = self.record(id)?;
        for m in record.trailing.chunks_exact(12) {
            let field = |i: usize| u32::from_le_bytes(m[i..i + 4].try_into().unwrap_or_default());
            let (name_off, type_id, offset) = (field(0), field(4), field(8));
            let (bit_offset, bitfield) = if record.kind_flag {
                (offset & 0xff_ffff, offset >> 24 != 0)
            } else {
                (offset, false)
            };
            let name = self.name(name_off, None)?;
            if name.is_empty() {
                // An anonymous struct or union: its members are the outer one's.
                let inner = self.resolve(type_id)?;
                if matches!(self.record(inner)?.kind, KIND_STRUCT | KIND_UNION)
                    && let Some(found) = self.member_of(inner, member)?
                {
                    return Ok(Some(Member { offset: bit_offset / 8 + found.offset, ..found }));
                }
                continue;
            }
            if name != member {
                continue;
            }
            ensure!(!bitfield && bit_offset % 8 == 0, "member {member} is a bitfield");
            return Ok(Some(Member { offset: bit_offset / 8, shape: self.shape(type_id)? }));
        }
        Ok(None)
    }

    /// `id` with qualifiers and typedefs looked through.
    fn resolve(&self, mut id: u32) -> anyhow::Result<u32> {
        for _ in 0..32 {
            let record = self.record(id)?;
            if !QUALIFIERS.contains(&record.kind) {
                return Ok(id);
            }
            id = record.size_or_type;
        }
        bail!("BTF type {id}: too many qualifiers")
    }

    fn shape(&self, id: u32) -> anyhow::Result<Shape> {
        let record = self.record(self.resolve(id)?)?;
        Ok(match record.kind {
            KIND_INT => Shape::Int(record.size_or_type),
            KIND_PTR => Shape::Pointer,
            KIND_ARRAY => {
                let field = |i: usize| {
                    u32::from_le_bytes(record.trailing[i..i + 4].try_into().unwrap_or_default())
                };
                let inner = match self.shape(field(0))? {
                    Shape::Int(size) => Inner::Int(size),
                    Shape::Pointer => Inner::Pointer,
                    _ => Inner::Other,
                };
                Shape::Array(field(8), inner)
            }
            _ => Shape::Other,
        })
    }
}

/// Size of the data that follows a `struct btf_type` of this kind.
fn trailing_bytes(kind: u32, vlen: usize) -> anyhow::Result<usize> {
    Ok(match kind {
        // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
        2 | 7 | 8 | 9 | 10 | 11 | 12 | 16 | 18 => 0,
        // INT, VAR, DECL_TAG
        1 | 14 | 17 => 4,
        // ARRAY
        3 => 12,
        // STRUCT, UNION (members), DATASEC (var_secinfo), ENUM64
        4 | 5 | 15 | 19 => 12 * vlen,
        // ENUM, FUNC_PROTO (params)
        6 | 13 => 8 * vlen,
        _ => bail!("unknown BTF kind {kind}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob: INT "int", FUNC_PROTO with 1 param, FUNC "vfs_write", STRUCT with 2 members,
    /// FUNC "ksys_write".
    fn blob() -> Vec<u8> {
        let mut types = Vec::new();
        let mut ty = |name: u32, kind: u32, vlen: u32, size: u32, extra: &[u8]| {
            types.extend(name.to_le_bytes());
            types.extend(((kind << 24) | vlen).to_le_bytes());
            types.extend(size.to_le_bytes());
            types.extend(extra);
        };
        ty(1, 1, 0, 4, &[0; 4]); // id 1: int
        ty(0, 13, 1, 1, &[0; 8]); // id 2: func_proto(int)
        ty(5, 12, 0, 2, &[]); // id 3: vfs_write
        ty(25, 4, 2, 8, &[0; 24]); // id 4: struct s
        ty(15, 12, 0, 2, &[]); // id 5: ksys_write
        with_header(types, b"\0int\0vfs_write\0ksys_write\0s\0")
    }

    /// `struct cgroup { int level; kn_t kn; union { struct cgroup *ancestors[]; }; }` with
    /// `typedef struct cgroup *kn_t`, as the kernel's, reduced.
    fn cgroup_blob() -> Vec<u8> {
        let strings = b"\0int\0u64\0cgroup\0level\0kn\0kn_t\0ancestors\0";
        let words = |w: &[u32]| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let mut types = Vec::new();
        let mut ty = |name: u32, kind: u32, vlen: u32, size: u32, extra: &[u8]| {
            types.extend(words(&[name, (kind << 24) | vlen, size]));
            types.extend(extra);
        };
        ty(1, 1, 0, 4, &[0; 4]); // id 1: int
        ty(5, 1, 0, 8, &[0; 4]); // id 2: u64
        ty(0, 2, 0, 5, &[]); // id 3: struct cgroup *
        ty(0, 3, 0, 0, &words(&[3, 1, 0])); // id 4: struct cgroup *[]
        // id 5: struct cgroup: level at 0, kn at 8, the anonymous union at 16 (bit offsets).
        ty(9, 4, 3, 24, &words(&[16, 1, 0, 22, 6, 64, 0, 7, 128]));
        ty(25, 8, 0, 3, &[]); // id 6: kn_t
        ty(0, 5, 1, 0, &words(&[30, 4, 0])); // id 7: union { ancestors }
        with_header(types, strings)
    }

    fn with_header(types: Vec<u8>, strings: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend(MAGIC.to_le_bytes());
        data.extend([1u8, 0]); // version, flags
        data.extend(24u32.to_le_bytes()); // hdr_len
        data.extend(0u32.to_le_bytes()); // type_off
        data.extend((types.len() as u32).to_le_bytes());
        data.extend((types.len() as u32).to_le_bytes()); // str_off
        data.extend((strings.len() as u32).to_le_bytes());
        data.extend(types);
        data.extend(strings);
        data
    }

    #[test]
    fn finds_function_names_and_ids() {
        let btf = Btf::parse(&blob(), None).unwrap();
        assert_eq!(
            btf.functions,
            HashMap::from([("vfs_write".to_owned(), 3), ("ksys_write".to_owned(), 5)])
        );
        // The same blob as split BTF on top of itself: ids continue after the base's five,
        // and names below the base's string size resolve in the base's strings.
        let split = Btf::parse(&blob(), Some(&btf)).unwrap();
        assert_eq!(
            split.functions,
            HashMap::from([("vfs_write".to_owned(), 8), ("ksys_write".to_owned(), 10)])
        );
        assert_eq!(split.last_id, 10);
    }

    #[test]
    fn finds_members_through_typedefs_and_anonymous_unions() {
        let btf = Btf::parse(&cgroup_blob(), None).unwrap();
        let member = |name| btf.member("cgroup", name).map_err(|e| e.to_string());
        assert_eq!(member("level"), Ok(Member { offset: 0, shape: Shape::Int(4) }));
        assert_eq!(member("kn"), Ok(Member { offset: 8, shape: Shape::Pointer }));
        assert_eq!(
            member("ancestors"),
            Ok(Member { offset: 16, shape: Shape::Array(0, Inner::Pointer) })
        );
        assert_eq!(
            member("ancestor_ids"),
            Err("no member ancestor_ids in struct cgroup of kernel BTF".to_owned())
        );
        assert!(btf.member("task_struct", "cgroups").is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, clearly", None).is_err());
        let mut truncated = blob();
        truncated.truncate(40);
        assert!(Btf::parse(&truncated, None).is_err());
    }

    #[test]
    fn reads_the_running_kernels_btf_when_present() {
        let Ok(data) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux on this kernel");
            return;
        };
        let btf = Btf::parse(&data, None).unwrap();
        let n = btf.functions.len();
        assert!(btf.functions.contains_key("vfs_write") && n > 10_000, "{n} functions");
    }
}
