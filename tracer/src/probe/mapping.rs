//! The value area of a BPF_F_MMAPABLE array, mapped read-write into gotrace: memory the
//! programs and userspace share, each side updating it in place.
use std::{
    io,
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
};

use anyhow::{Context as _, Result};
use aya::maps::MapData;

/// A shared mapping of an array map's values, unmapped on drop.
pub struct Mapping {
    ptr: NonNull<u8>,
    bytes: usize,
    /// The map's file descriptor, held for the life of the mapping.
    _map: MapData,
}

// SAFETY: the mapping is plain shared memory that lives as long as `Mapping` does,
// whichever thread holds it; its users access it through atomics or volatile reads.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `bytes` of `map`'s values (`what` names them in an error).
    pub fn new(map: MapData, bytes: usize, what: &str) -> Result<Mapping> {
        let fd = map.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's value area at offset 0; the kernel
        // checks the fd, the size against the map's and the flags.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error()).with_context(|| format!("map {what}"));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).with_context(|| format!("map {what}"))?;
        Ok(Mapping {
            ptr,
            bytes,
            _map: map,
        })
    }

    /// The mapping's first byte: page aligned, valid for `len()` bytes while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.bytes
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.bytes);
        }
    }
}
