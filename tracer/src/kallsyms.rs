//! The kernel's symbol lists as text: `/proc/kallsyms` ("address kind name [module]" per line)
//! and ftrace's function lists, which end in the same "name [module]". One parser for the
//! symbolizer, the function inventory and the table the counting programs look functions up
//! in.
//!
//! Without privileges (or under `kernel.kptr_restrict`) kallsyms shows every address as 0;
//! callers that need addresses check for that.

/// Name of the core kernel image in place of a module: symbols without a `[module]` column.
pub const CORE_KERNEL: &str = "vmlinux";

/// One line of `/proc/kallsyms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub address: u64,
    /// nm's symbol type: `t`/`T` text, `w`/`W` weak, `d`/`D` data, ...
    pub kind: &'a str,
    pub name: &'a str,
    /// The module's name, or [`CORE_KERNEL`].
    pub module: &'a str,
}

impl Symbol<'_> {
    /// Whether the symbol is code (text or weak): something a function can be.
    pub fn is_code(&self) -> bool {
        matches!(self.kind, "t" | "T" | "w" | "W")
    }
}

/// The symbols of kallsyms text, in order; lines that are not "hex-address kind name ..." are
/// passed over.
pub fn symbols(text: &str) -> impl Iterator<Item = Symbol<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let (address, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
        let address = u64::from_str_radix(address, 16).ok()?;
        Some(Symbol { address, kind, name, module: module(fields.next()) })
    })
}

/// The module named by a symbol line's last column (`[veth]`), or [`CORE_KERNEL`] without one.
pub fn module(column: Option<&str>) -> &str {
    column.and_then(|m| m.strip_prefix('[')?.strip_suffix(']')).unwrap_or(CORE_KERNEL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_and_module_symbols_and_skips_the_rest() {
        let text = "ffffffff81000000 T _stext\n\
                    not-hex t nothing\n\
                    ffffffff82000000 D some_data\n\
                    \n\
                    ffffffffc0001000 t veth_xmit\t[veth]\n";
        let symbol = |address, kind, name, module| Symbol { address, kind, name, module };
        assert_eq!(
            symbols(text).collect::<Vec<_>>(),
            [
                symbol(0xffffffff81000000, "T", "_stext", "vmlinux"),
                symbol(0xffffffff82000000, "D", "some_data", "vmlinux"),
                symbol(0xffffffffc0001000, "t", "veth_xmit", "veth"),
            ]
        );
        let kinds: Vec<bool> = symbols(text).map(|s| s.is_code()).collect();
        assert_eq!(kinds, [true, false, true]);
        assert_eq!(module(Some("[kvm]")), "kvm");
        assert_eq!(module(None), CORE_KERNEL);
    }
}
