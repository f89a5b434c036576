//! The benchmark's hashing ceiling: argon2id with Tessera's parameters (OWASP: 19 MiB, t=2,
//! p=1) on one thread, reusing its memory (the workers' own: huge pages where the kernel has
//! them), for SECONDS; prints hashes per second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argon2::{Algorithm, Argon2, Params, Version};
use std::time::{Duration, Instant};
use tessera::crypto::HashMemory;

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let params = Params::new(19_456, 2, 1, None).unwrap();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = HashMemory::new(params.block_count()).unwrap();
    let mut out = [0u8; 32];
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs(secs) {
        argon
            .hash_password_into_with_memory(
                b"correct horse",
                b"0123456789abcdef",
                &mut out,
                memory.as_mut(),
            )
            .unwrap();
        n += 1;
    }
    println!("{:.1}", n as f64 / start.elapsed().as_secs_f64());
}
