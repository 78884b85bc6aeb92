//! ktrace's eBPF object, the one tracer/build.rs builds from tracer-ebpf, and finding its
//! programs and maps by name, with errors that say which one is missing or of the wrong type.
use anyhow::Context as _;
use aya::{
    Ebpf, EbpfLoader,
    maps::{Map, MapError},
    programs::{Program, ProgramError, RawTracePoint},
};

/// The object's ELF bytes, embedded at build time.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer"));

/// Loads the object with `loader`'s settings: maps are created, programs are not loaded yet.
pub fn load(loader: &mut EbpfLoader) -> anyhow::Result<Ebpf> {
    loader.load(OBJECT).context("loading ktrace's eBPF object")
}

/// Program `name` as aya type `P` (`RawTracePoint`, `PerfEvent`, ...).
pub fn program_mut<'a, P>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut P>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .with_context(|| format!("program {name} missing from the eBPF object"))?
        .try_into()
        .with_context(|| format!("program {name} is not of the expected type"))
}

/// Map `name`.
pub fn map<'a>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<&'a Map> {
    ebpf.map(name).with_context(|| format!("map {name} missing from the eBPF object"))
}

/// Map `name` as aya type `M` (`PerCpuArray`, `HashMap`, ...).
pub fn map_as<'a, M>(ebpf: &'a Ebpf, name: &str) -> anyhow::Result<M>
where
    M: TryFrom<&'a Map, Error = MapError>,
{
    M::try_from(map(ebpf, name)?).with_context(|| format!("map {name}"))
}

/// Map `name`, writable, as aya type `M`.
pub fn map_mut_as<'a, M>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<M>
where
    M: TryFrom<&'a mut Map, Error = MapError>,
{
    let map =
        ebpf.map_mut(name).with_context(|| format!("map {name} missing from the eBPF object"))?;
    M::try_from(map).with_context(|| format!("map {name}"))
}

/// Loads and attaches each (program, raw tracepoint) pair.
pub fn attach_raw_tracepoints(ebpf: &mut Ebpf, programs: &[(&str, &str)]) -> anyhow::Result<()> {
    for &(name, tracepoint) in programs {
        let program: &mut RawTracePoint = program_mut(ebpf, name)?;
        program.load().map_err(|e| super::verifier::load_error(name, e))?;
        program
            .attach(tracepoint)
            .with_context(|| format!("attaching {name} to raw tracepoint {tracepoint}"))?;
    }
    Ok(())
}
