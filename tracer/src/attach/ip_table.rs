//! The `IP_TABLE` in which the kprobe.multi and fentry counting programs look up a hit's
//! function index by address (see [`IpSlot`] for the key and why not the attach cookie).
//! Built before the object is loaded, since its size is a load-time setting, and written in
//! one batch after.
use std::{collections::HashMap, fs};

use anyhow::{Context as _, bail};
use aya::Ebpf;
use tracer_common::{ENDBR_SIZE, FENTRY_CALL_SIZE, IP_TABLE_MAX_PROBES, IpSlot, ip_home};

use super::{object, raw};
use crate::{
    functions::Target,
    kallsyms::{self, Symbol},
};

/// (table key, function index)
type Key = (u64, u32);

pub struct IpTable {
    slots: Vec<IpSlot>,
    /// Indexes of targets that /proc/kallsyms has no address for: not attachable.
    pub unlocated: Vec<usize>,
}

impl IpTable {
    /// The table for `targets` (index = position in the slice): keyed by their patch sites
    /// where the kernel lists them, else by both possible keys of their address in
    /// /proc/kallsyms (read only then: 0.2 s under TCG).
    pub fn for_targets(targets: &[Target]) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        let mut by_symbol = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            if target.patch_sites.is_empty() {
                by_symbol.push(index);
            }
            let index = index as u32;
            keys.extend(target.patch_sites.iter().map(|&site| (site + FENTRY_CALL_SIZE, index)));
        }
        let mut unlocated = Vec::new();
        if !by_symbol.is_empty() {
            let text = fs::read_to_string("/proc/kallsyms").context("reading /proc/kallsyms")?;
            let (found, missing) = symbol_keys(&text, targets, &by_symbol)?;
            keys.extend(found);
            unlocated = missing;
        }
        Ok(Self { slots: build(&keys), unlocated })
    }

    /// Number of slots, a power of two.
    pub fn len(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn mask(&self) -> u32 {
        self.len() - 1
    }

    /// Writes the used slots into the loaded object's `IP_TABLE` (the rest are zero, empty).
    pub fn write(&self, ebpf: &Ebpf) -> anyhow::Result<()> {
        let (positions, slots): (Vec<u32>, Vec<IpSlot>) = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.ip != 0)
            .map(|(pos, slot)| (pos as u32, *slot))
            .unzip();
        raw::map_update_batch(object::map(ebpf, "IP_TABLE")?, &positions, &slots)
            .context("filling IP_TABLE")
    }
}

/// The table's (key, index) pairs for `targets[i]`, i in `indexes`, from the code symbols of
/// kallsyms `text`, and those of the indexes without a symbol. A name can have several addresses
/// (static functions of the same name); the kernel attaches to one of them, all are keys.
fn symbol_keys(
    text: &str,
    targets: &[Target],
    indexes: &[usize],
) -> anyhow::Result<(Vec<Key>, Vec<usize>)> {
    let wanted: HashMap<(&str, &str), u32> = indexes
        .iter()
        .map(|&index| {
            ((targets[index].name.as_str(), targets[index].module.as_str()), index as u32)
        })
        .collect();
    let mut keys = Vec::new();
    let mut located = vec![false; targets.len()];
    let mut hidden = true;
    for symbol in kallsyms::symbols(text).filter(Symbol::is_code) {
        let Some(&index) = wanted.get(&(symbol.name, symbol.module)) else { continue };
        let addr = symbol.address;
        hidden &= addr == 0;
        located[index as usize] = true;
        for key in [addr + FENTRY_CALL_SIZE, addr + ENDBR_SIZE + FENTRY_CALL_SIZE] {
            keys.push((key, index));
        }
    }
    if hidden && !keys.is_empty() {
        bail!(
            "/proc/kallsyms shows no addresses (sysctl kernel.kptr_restrict is set); \
             function counting needs them: set it to 0 or 1, or use --backend kprobe"
        );
    }
    let unlocated = indexes.iter().copied().filter(|&i| !located[i]).collect();
    Ok((keys, unlocated))
}

/// Linear probing at a load of at most one half, doubled until every key sits within
/// [`IP_TABLE_MAX_PROBES`] slots of its home. The first of equal keys wins.
fn build(keys: &[Key]) -> Vec<IpSlot> {
    let mut size = (keys.len() * 2).next_power_of_two().max(64);
    loop {
        if let Some(slots) = try_build(keys, size) {
            return slots;
        }
        size *= 2;
    }
}

fn try_build(keys: &[Key], size: usize) -> Option<Vec<IpSlot>> {
    let mask = (size - 1) as u32;
    let mut slots = vec![IpSlot::default(); size];
    'keys: for &(ip, index) in keys {
        let mut pos = ip_home(ip, mask);
        for _ in 0..IP_TABLE_MAX_PROBES {
            let slot = &mut slots[pos as usize];
            if slot.ip == ip {
                continue 'keys;
            }
            if slot.ip == 0 {
                *slot = IpSlot { ip, index, _pad: 0 };
                continue 'keys;
            }
            pos = (pos + 1) & mask;
        }
        return None;
    }
    Some(slots)
}

#[cfg(test)]
mod tests {
    use tracer_common::ip_find;

    use super::*;
    use crate::kallsyms::CORE_KERNEL;

    fn find(slots: &[IpSlot], ip: u64) -> Option<u32> {
        ip_find(ip, slots.len() as u32 - 1, |pos| slots.get(pos as usize).copied())
    }

    #[test]
    fn every_key_is_found_and_nothing_else() {
        // Like `--all`: about 38,000 functions 16 bytes apart or more, two keys each.
        let mut keys = Vec::new();
        let mut addr = 0xffff_ffff_8100_0000u64;
        for index in 0..38_000u32 {
            addr += 16 * (1 + u64::from(index % 7));
            keys.push((addr + 5, index));
            keys.push((addr + 9, index));
        }
        let slots = build(&keys);
        assert!(slots.len().is_power_of_two());
        assert!(keys.len() * 2 <= slots.len(), "load above one half");
        for &(ip, index) in &keys {
            assert_eq!(find(&slots, ip), Some(index), "{ip:#x}");
        }
        for &(ip, _) in keys.iter().step_by(97) {
            assert_eq!(find(&slots, ip + 1), None);
            assert_eq!(find(&slots, ip - 5), None);
        }
    }

    #[test]
    fn crowded_homes_grow_the_table() {
        // Keys that share a home: linear probing alone would need more probes than allowed.
        let mask = 63;
        let home_of_first = ip_home(0x1000, mask);
        let crowd: Vec<(u64, u32)> = (0x1000u64..)
            .step_by(16)
            .filter(|&ip| ip_home(ip, mask) == home_of_first)
            .take(IP_TABLE_MAX_PROBES as usize + 1)
            .zip(0..)
            .collect();
        assert!(try_build(&crowd, 64).is_none());
        let slots = build(&crowd);
        for &(ip, index) in &crowd {
            assert_eq!(find(&slots, ip), Some(index));
        }
    }

    #[test]
    fn keys_from_kallsyms_text_symbols_by_name_and_module() {
        let text = "ffffffff81000000 T _stext\n\
                    ffffffff81001000 t helper\n\
                    ffffffff81002000 t helper\n\
                    ffffffff82000000 D some_data\n\
                    ffffffffc0001000 t veth_xmit\t[veth]\n\
                    ffffffffc0002000 t helper\t[veth]\n";
        let target = |name: &str, module: &str| Target {
            name: name.to_owned(),
            module: module.to_owned(),
            btf_id: None,
            patch_sites: Vec::new(),
        };
        let targets = [
            target("helper", CORE_KERNEL),
            target("helper", "veth"),
            target("some_data", CORE_KERNEL),
            target("veth_xmit", "veth"),
        ];
        let all = [0, 1, 2, 3];
        let (found, unlocated) = symbol_keys(text, &targets, &all).unwrap();
        assert_eq!(
            found,
            [
                (0xffffffff81001005, 0),
                (0xffffffff81001009, 0),
                (0xffffffff81002005, 0),
                (0xffffffff81002009, 0),
                (0xffffffffc0001005, 3),
                (0xffffffffc0001009, 3),
                (0xffffffffc0002005, 1),
                (0xffffffffc0002009, 1),
            ]
        );
        assert_eq!(unlocated, [2]);
        // What a reader sees under kernel.kptr_restrict.
        let hidden: String =
            text.lines().map(|l| format!("0000000000000000{}\n", &l[16..])).collect();
        let err = symbol_keys(&hidden, &targets, &all).unwrap_err().to_string();
        assert!(err.contains("kptr_restrict"), "{err}");
    }
}
