//! An argon2 worker's working memory, mapped straight from the operating system so that
//! dropping it gives the pages back at once.
//!
//! Through `malloc`, a freed 19 MiB buffer is not reliably returned: glibc raises its mmap
//! threshold to the size of the last large block freed, so the next buffer of that size comes
//! from a thread arena whose top is only trimmed above twice that size, and stays resident
//! for good. An anonymous mapping is zero-filled by the kernel (a valid `Block`: `[u64; 128]`)
//! and unmapped on drop.

use argon2::Block;

/// `blocks` argon2 blocks of zeroed memory.
pub struct HashMemory {
    #[cfg(unix)]
    map: mapped::Mapping,
    #[cfg(not(unix))]
    vec: Vec<Block>,
}

impl HashMemory {
    /// Maps `blocks` blocks; `None` when the system refuses the memory.
    pub fn new(blocks: usize) -> Option<Self> {
        #[cfg(unix)]
        {
            mapped::Mapping::new(blocks).map(|map| Self { map })
        }
        #[cfg(not(unix))]
        {
            Some(Self {
                vec: vec![Block::default(); blocks],
            })
        }
    }

    /// How many blocks it holds.
    pub fn len(&self) -> usize {
        self.as_ref().len()
    }
}

impl AsRef<[Block]> for HashMemory {
    fn as_ref(&self) -> &[Block] {
        #[cfg(unix)]
        {
            self.map.blocks()
        }
        #[cfg(not(unix))]
        {
            &self.vec
        }
    }
}

impl AsMut<[Block]> for HashMemory {
    fn as_mut(&mut self) -> &mut [Block] {
        #[cfg(unix)]
        {
            self.map.blocks_mut()
        }
        #[cfg(not(unix))]
        {
            &mut self.vec
        }
    }
}

#[cfg(unix)]
mod mapped {
    use std::ptr::NonNull;

    use argon2::Block;

    /// An anonymous private mapping of `blocks` blocks, owned exclusively.
    pub struct Mapping {
        ptr: NonNull<Block>,
        blocks: usize,
    }

    // SAFETY: the mapping is owned by this value alone (no aliases); moving it to another
    // thread moves that ownership, as for a `Box<[Block]>`.
    unsafe impl Send for Mapping {}

    impl Mapping {
        pub fn new(blocks: usize) -> Option<Self> {
            let len = blocks.checked_mul(size_of::<Block>())?;
            if len == 0 {
                return Some(Self {
                    ptr: NonNull::dangling(),
                    blocks: 0,
                });
            }
            // Fault the pages in with one call rather than one fault per page while hashing.
            #[cfg(target_os = "linux")]
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
            #[cfg(not(target_os = "linux"))]
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing
            // memory is touched. The result is checked against MAP_FAILED below.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    flags,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            // Page-aligned, so aligned for `Block` (64 bytes).
            let ptr = NonNull::new(ptr.cast::<Block>())?;
            Some(Self { ptr, blocks })
        }

        pub fn blocks(&self) -> &[Block] {
            // SAFETY: `ptr` points to `blocks` blocks of readable, writable memory owned by
            // `self` for its whole life; the kernel zero-fills it and every bit pattern is a
            // valid `Block` (`[u64; 128]`). A `&self` borrow allows no `&mut` alias.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.blocks) }
        }

        pub fn blocks_mut(&mut self) -> &mut [Block] {
            // SAFETY: as in `blocks`; `&mut self` makes this the only reference.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.blocks) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            if self.blocks == 0 {
                return;
            }
            // SAFETY: unmaps exactly the range `new` mapped, once; no reference into it can
            // outlive `self`.
            unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), self.blocks * size_of::<Block>());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_memory_is_zeroed_writable_and_sized() {
        let mut m = HashMemory::new(64).expect("64 KiB");
        assert_eq!(m.len(), 64);
        let zero = Block::default();
        assert!(m.as_ref().iter().all(|b| b.as_ref() == zero.as_ref()));
        m.as_mut()[63].as_mut()[127] = 7;
        assert_eq!(m.as_ref()[63].as_ref()[127], 7);
        assert_eq!(HashMemory::new(0).map(|m| m.len()), Some(0));
    }
}
