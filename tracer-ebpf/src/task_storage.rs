//! Task-local storage (`BPF_MAP_TYPE_TASK_STORAGE`, Linux 5.11, usable from raw tracepoints):
//! one value per task, created on first use and freed by the kernel when the task exits.
//! aya-ebpf 0.2 has no such map, so this declares it as a BTF map definition the way aya's
//! own BTF maps are laid out: the kernel requires BTF for the key and value of local storage.
use core::ptr;

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_LOCAL_STORAGE_GET_F_CREATE, bpf_map_type, task_struct},
    helpers::generated::bpf_task_storage_get,
};

/// A BTF map definition: the loader reads the map's type, key, value and flags from the BTF
/// of these fields (array lengths carry the numbers); the fields themselves are never read.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are placeholders for the loader and never dereferenced; a static map
// definition must be Sync.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    pub const fn new() -> Self {
        Self {
            r#type: ptr::null(),
            key: ptr::null(),
            value: ptr::null(),
            max_entries: ptr::null(),
            map_flags: ptr::null(),
        }
    }

    /// `task`'s value, created zeroed if it has none; `None` when the kernel cannot give one
    /// (out of memory, or task storage busy on this CPU).
    #[inline(always)]
    pub fn get_or_create(&self, task: *mut task_struct) -> Option<*mut T> {
        self.lookup(task, BPF_LOCAL_STORAGE_GET_F_CREATE.into())
    }

    /// `task`'s value, if it has one. Never allocates, so it is safe where allocating is not
    /// (the scheduler, holding its runqueue lock).
    #[inline(always)]
    pub fn get(&self, task: *mut task_struct) -> Option<*mut T> {
        self.lookup(task, 0)
    }

    #[inline(always)]
    fn lookup(&self, task: *mut task_struct, flags: u64) -> Option<*mut T> {
        // SAFETY: `self` is a map definition the loader relocated, `task` a BTF pointer to a
        // live task; no initial value is passed, so the kernel zeroes a new one.
        let value = unsafe {
            bpf_task_storage_get(
                ptr::from_ref(self).cast_mut().cast(),
                task,
                ptr::null_mut(),
                flags,
            )
        };
        (!value.is_null()).then_some(value.cast())
    }
}
