//! An argon2 worker's working memory, mapped straight from the operating system so that
//! dropping it gives the pages back at once, and in huge pages where the kernel has them.
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
    pub(crate) fn len(&self) -> usize {
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
            let ptr = map_aligned(len)?;
            // Huge pages: the hash reads blocks all over its 19 MiB, and with 4 KiB pages each
            // read may miss the TLB (4,864 pages against 9 huge ones). argon2 runs ~5 % faster
            // so (README, Benchmark, "2026-12-07, third run"). Advice only: where transparent
            // huge pages are off or none is free, the same memory comes in small pages.
            #[cfg(target_os = "linux")]
            // SAFETY: advice on the range just mapped, owned by nobody else yet.
            unsafe {
                libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_HUGEPAGE);
                // Fault it all in now with one call, not one fault per page while hashing
                // (an older kernel refuses the advice: the pages then fault in as touched).
                libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_POPULATE_WRITE);
            }
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

    /// A huge page's size on x86-64 and aarch64 with 4 KiB pages: where the mapping starts.
    const HUGE: usize = 2 << 20;

    /// A fresh anonymous mapping of `len` bytes starting at a huge-page boundary, so that every
    /// whole 2 MiB of it can be one huge page (the kernel aligns only mappings whose length is
    /// a multiple of 2 MiB; 19 MiB is not). Maps `len` + 2 MiB and unmaps what lies outside.
    fn map_aligned(len: usize) -> Option<NonNull<Block>> {
        let padded = len.checked_add(HUGE)?;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing
        // memory is touched. The result is checked against MAP_FAILED below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                padded,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        let head = (raw as usize).next_multiple_of(HUGE) - raw as usize;
        let tail = padded - head - len;
        let start = raw.cast::<u8>().wrapping_add(head);
        // SAFETY: both ranges lie inside the mapping just made and outside the `len` bytes
        // from `start`, which are all that is kept; nothing points into them.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap(start.wrapping_add(len).cast(), tail);
            }
        }
        // Huge-page aligned, so aligned for `Block` (64 bytes).
        NonNull::new(start.cast::<Block>())
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

    /// The workers' 19 MiB start on a huge-page boundary and, where the kernel offers
    /// transparent huge pages (`always` or `madvise`), are backed by them.
    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_memory_is_in_huge_pages_where_the_kernel_has_them() {
        let blocks = 19 * 1024;
        let m = HashMemory::new(blocks).expect("19 MiB");
        let start = m.as_ref().as_ptr() as usize;
        assert_eq!(start % (2 << 20), 0, "starts on a 2 MiB boundary");
        let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !(mode.contains("[always]") || mode.contains("[madvise]")) {
            println!("skipped the huge-page check: transparent huge pages are {mode:?}");
            return;
        }
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        // The entry whose range holds ours (an adjacent mapping with the same advice, another
        // test's, may have merged with it), then its first AnonHugePages line.
        let holds = |l: &&str| {
            let range = l.split(' ').next().unwrap_or_default();
            let parse = |h: Option<&str>| h.and_then(|h| usize::from_str_radix(h, 16).ok());
            let mut ends = range.split('-');
            matches!((parse(ends.next()), parse(ends.next())), (Some(a), Some(b)) if a <= start && start < b)
        };
        let ours = smaps
            .lines()
            .skip_while(|l| !holds(l))
            .find_map(|l| l.strip_prefix("AnonHugePages:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("the mapping's AnonHugePages line");
        assert!(
            ours >= 2048,
            "{ours} kB of huge pages in the 19 MiB mapping"
        );
    }
}
