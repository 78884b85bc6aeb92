//! The names and type ids of the functions in kernel BTF (`/sys/kernel/btf/vmlinux`).
//!
//! aya-obj parses BTF but does not expose its type list, and all ktrace needs is the FUNC
//! records: so this walks the type section itself (format: Documentation/bpf/btf.rst).
use std::collections::HashMap;

use anyhow::{Context as _, bail, ensure};

const MAGIC: u16 = 0xeb9f;
const KIND_FUNC: u32 = 12;

/// The FUNC records of one BTF blob: vmlinux's, or a module's split BTF on top of vmlinux's.
#[derive(Debug, Default)]
pub struct Btf {
    /// Function name -> type id (ids of split BTF continue after the base's).
    pub functions: HashMap<String, u32>,
    strings: Vec<u8>,
    /// Number of types including the base's, i.e. the last type id.
    last_id: u32,
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
        let types = hdr_len + type_off..hdr_len + type_off + type_len;
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .context("BTF string section truncated")?
            .to_vec();
        let base_strings = base.map_or(0, |b| b.strings.len());
        let name = |off: u32| -> anyhow::Result<String> {
            // Split BTF: offsets below the base's string section size name base strings.
            let (section, off) = match base {
                Some(b) if (off as usize) < base_strings => (&b.strings, off as usize),
                _ => (&strings, off as usize - base_strings),
            };
            let rest = section.get(off..).context("BTF name offset out of range")?;
            let end = rest.iter().position(|&b| b == 0).context("unterminated BTF name")?;
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        let mut functions = HashMap::new();
        let mut id = base.map_or(0, |b| b.last_id);
        let mut pos = types.start;
        while pos < types.end {
            id += 1;
            let (name_off, info) = (u32_at(pos)?, u32_at(pos + 4)?);
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            if kind == KIND_FUNC {
                functions.insert(name(name_off)?, id);
            }
            pos += 12 + trailing_bytes(kind, vlen)?;
        }
        Ok(Self { functions, strings, last_id: id })
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
        let strings = b"\0int\0vfs_write\0ksys_write\0s\0";
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
