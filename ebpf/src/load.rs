//! Loading an embedded object and reaching its programs and maps, with every aya
//! error translated to [`EbpfError`].

use std::sync::{Mutex, MutexGuard, PoisonError};

use aya::{
    maps::{Array, MapData, PerCpuArray},
    Ebpf, EbpfLoader,
};

use crate::{abi::Config, EbpfError};

/// Parses `bytes` and creates its maps (programs are loaded by the caller).
pub(crate) fn object(name: &'static str, bytes: &[u8]) -> Result<Ebpf, EbpfError> {
    // No kernel BTF: the programs use no CO-RE relocations, and parsing
    // /sys/kernel/btf/vmlinux would cost tens of milliseconds per load.
    EbpfLoader::new()
        .btf(None)
        .load(bytes)
        .map_err(|error| EbpfError::from_aya(format!("load object {name}"), name, &error))
}

/// A typed program of `ebpf`.
pub(crate) fn program_mut<'a, P>(
    ebpf: &'a mut Ebpf,
    object: &'static str,
    name: &'static str,
) -> Result<&'a mut P, EbpfError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    let program = ebpf.program_mut(name).ok_or_else(|| EbpfError::Object {
        object,
        detail: format!("no program {name}"),
    })?;
    program
        .try_into()
        .map_err(|error: aya::programs::ProgramError| {
            EbpfError::from_aya(format!("use program {name}"), object, &error)
        })
}

/// A map of `ebpf` converted to its typed form `M`.
pub(crate) fn map_mut<'a, M>(
    ebpf: &'a mut Ebpf,
    object: &'static str,
    name: &'static str,
) -> Result<M, EbpfError>
where
    M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map_mut(name).ok_or_else(|| EbpfError::Object {
        object,
        detail: format!("no map {name}"),
    })?;
    M::try_from(map).map_err(|error| EbpfError::from_aya(format!("use map {name}"), object, &error))
}

/// Writes key 0 of a config array.
pub(crate) fn write_config(
    ebpf: &mut Ebpf,
    object: &'static str,
    name: &'static str,
    config: Config,
) -> Result<(), EbpfError> {
    let mut array: Array<&mut MapData, Config> = map_mut(ebpf, object, name)?;
    array
        .set(0, config, 0)
        .map_err(|error| EbpfError::from_aya(format!("write {name}"), object, &error))
}

/// The sums over all CPUs of the per-CPU counters `indexes` of map `name`.
pub(crate) fn read_counters(
    ebpf: &mut Ebpf,
    object: &'static str,
    name: &'static str,
    indexes: impl IntoIterator<Item = u32>,
) -> Result<Vec<u64>, EbpfError> {
    let array: PerCpuArray<&mut MapData, u64> = map_mut(ebpf, object, name)?;
    indexes
        .into_iter()
        .map(|index| {
            array
                .get(&index, 0)
                .map(|values| values.iter().copied().fold(0u64, u64::wrapping_add))
                .map_err(|error| EbpfError::from_aya(format!("read {name}"), object, &error))
        })
        .collect()
}

/// Locks a handle's state; a panic while it was held left nothing half-written that
/// matters (every map write is one syscall), so a poisoned lock is used as is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
