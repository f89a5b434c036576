//! How the OS schedules the server's request threads: Linux's `SCHED_BATCH`, so that a
//! thread woken by an answer (a browser's request, Redis, PostgreSQL) waits for the running
//! password hash's time slice instead of interrupting it at once.
//!
//! Each interruption costs the hashing core an interrupt, two thread switches and a colder
//! cache; a sign-in on PostgreSQL + Redis makes about twenty such round trips. Measured on
//! the benchmark (2 cores, server pinned to one): the work besides the hash fell from 17 % to
//! 13 % of it, the PostgreSQL + Redis sign-in rate rose accordingly, and the embedded stores
//! were unchanged.
//!
//! The argon2 workers, for their part, ask for a time slice half again as long as a hash
//! ([`set_time_slice`]; `CoreSharing::WholeHashes`): the request threads' work then waits and
//! runs in one batch instead of cutting every hash into a dozen pieces (the default slice is
//! 1-3 ms; a hash, 13-20 ms).
//!
//! Every thread the server starts is under the policy but the argon2 workers, which go back
//! to `SCHED_OTHER`: also the threads started while the stores open (the main runtime's
//! blocking threads, which run the audit writer's and other background SQL, and the
//! connection pool's helpers). Two such threads once kept the OS default: a trace of the
//! hashing core during 512 sign-ins on PostgreSQL + Redis (`perf record -e
//! sched:sched_switch -C 0`) had them cutting into hashes, 1.5 preemptions a hash in all;
//! 0.8 since (the slice's own end, and other processes on the core).
//!
//! The price is latency while every core is hashing: a woken request may wait up to one
//! hashing worker's slice (~20 ms on the benchmark's machine; 50 ms at most) instead of being
//! served at once (measured: discovery's p99 alongside 64 browsers signing in was 24-27 ms
//! with the default slice and with this one). When a core is idle, wake-ups are immediate as
//! before. `thread_scheduling = "normal"` turns both off.

use std::time::Duration;

pub use crate::config::ThreadScheduling;

/// Applies `policy` to the calling thread; threads it starts afterwards inherit it. `Normal`
/// leaves the thread as it is (whatever the operator started the process with).
pub fn apply_to_this_thread(policy: ThreadScheduling) -> std::io::Result<()> {
    match policy {
        ThreadScheduling::Normal => Ok(()),
        ThreadScheduling::Batch => set_policy(Policy::Batch),
    }
}

/// Puts a thread that inherited `SCHED_BATCH` (started by a request thread's parent: the
/// argon2 workers) back under `SCHED_OTHER`; any other policy is left as it is.
pub fn undo_batch_on_this_thread() -> std::io::Result<()> {
    if current_policy() == Some(Policy::Batch) {
        set_policy(Policy::Other)
    } else {
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Policy {
    Other,
    Batch,
}

#[cfg(target_os = "linux")]
fn current_policy() -> Option<Policy> {
    // SAFETY: pid 0 names the calling thread; the call only reads its policy.
    match unsafe { libc::sched_getscheduler(0) } {
        libc::SCHED_OTHER => Some(Policy::Other),
        libc::SCHED_BATCH => Some(Policy::Batch),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn current_policy() -> Option<Policy> {
    None
}

#[cfg(target_os = "linux")]
fn set_policy(policy: Policy) -> std::io::Result<()> {
    let policy = match policy {
        Policy::Other => libc::SCHED_OTHER,
        Policy::Batch => libc::SCHED_BATCH,
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread, `param` lives for the call, and SCHED_OTHER or
    // SCHED_BATCH with priority 0 needs no privilege; the call changes nothing but this
    // thread's policy.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_policy(_policy: Policy) -> std::io::Result<()> {
    Ok(())
}

/// Asks the kernel to let the calling thread run up to `slice` before a thread of equal
/// weight takes the core: Linux 6.12+'s EEVDF slice request (`sched_attr.sched_runtime` for
/// `SCHED_OTHER`/`SCHED_BATCH`, clamped by the kernel to 0.1-100 ms; no privilege needed).
/// Older kernels accept and ignore it. The policy and nice value are kept as they are.
#[cfg(target_os = "linux")]
pub fn set_time_slice(slice: Duration) -> std::io::Result<()> {
    let mut attr = attr_of_this_thread()?;
    attr.sched_runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
    attr.sched_flags = 0;
    // SAFETY: pid 0 names the calling thread; `attr` is a valid, initialised `sched_attr`
    // whose `size` field says how much of it the kernel may read, and it outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn set_time_slice(_slice: Duration) -> std::io::Result<()> {
    Ok(())
}

/// The calling thread's time slice as the kernel has it (the OS default unless
/// [`set_time_slice`] changed it; 0 where the kernel does not say).
#[cfg(target_os = "linux")]
pub fn time_slice() -> std::io::Result<Duration> {
    Ok(Duration::from_nanos(attr_of_this_thread()?.sched_runtime))
}

#[cfg(not(target_os = "linux"))]
pub fn time_slice() -> std::io::Result<Duration> {
    Ok(Duration::ZERO)
}

#[cfg(target_os = "linux")]
fn attr_of_this_thread() -> std::io::Result<libc::sched_attr> {
    let size = std::mem::size_of::<libc::sched_attr>();
    let mut attr = libc::sched_attr {
        size: u32::try_from(size).unwrap_or(48),
        sched_policy: 0,
        sched_flags: 0,
        sched_nice: 0,
        sched_priority: 0,
        sched_runtime: 0,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: pid 0 names the calling thread; the kernel writes at most `size` bytes into
    // `attr`, which is exactly that large and lives for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &raw mut attr, size, 0) };
    if rc == 0 {
        Ok(attr)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`): what a hash
/// costs, whatever else ran on its core meanwhile.
#[cfg(unix)]
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(unix))]
pub fn thread_cpu_time() -> Duration {
    Duration::ZERO
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_of_this_thread() -> i32 {
        // SAFETY: pid 0 names the calling thread; the call only reads its policy.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn batch_applies_to_the_thread_and_the_threads_it_starts() {
        let seen = std::thread::spawn(|| {
            apply_to_this_thread(ThreadScheduling::Batch).unwrap();
            let child = std::thread::spawn(policy_of_this_thread).join().unwrap();
            (policy_of_this_thread(), child)
        })
        .join()
        .unwrap();
        assert_eq!(seen, (libc::SCHED_BATCH, libc::SCHED_BATCH));
        let normal = std::thread::spawn(|| {
            apply_to_this_thread(ThreadScheduling::Normal).unwrap();
            policy_of_this_thread()
        })
        .join()
        .unwrap();
        assert_eq!(normal, libc::SCHED_OTHER);
        // A thread started by a batch one (the argon2 workers) goes back to the default.
        let undone = std::thread::spawn(|| {
            apply_to_this_thread(ThreadScheduling::Batch).unwrap();
            std::thread::spawn(|| {
                undo_batch_on_this_thread().unwrap();
                policy_of_this_thread()
            })
            .join()
            .unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(undone, libc::SCHED_OTHER);
    }

    #[test]
    fn a_thread_gets_the_time_slice_it_asks_for_and_keeps_its_policy() {
        let (before, after, policy) = std::thread::spawn(|| {
            apply_to_this_thread(ThreadScheduling::Batch).unwrap();
            let before = time_slice().unwrap();
            set_time_slice(Duration::from_millis(17)).unwrap();
            (before, time_slice().unwrap(), policy_of_this_thread())
        })
        .join()
        .unwrap();
        assert_eq!(policy, libc::SCHED_BATCH, "the policy is kept");
        if after == before {
            println!("skipped: this kernel has no per-thread time slice (Linux 6.12+)");
            return;
        }
        assert_eq!(after, Duration::from_millis(17));
    }

    #[test]
    fn thread_cpu_time_counts_this_threads_work() {
        let (wall, start) = (std::time::Instant::now(), thread_cpu_time());
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        std::hint::black_box(x);
        let busy = thread_cpu_time() - start;
        assert!(busy > Duration::ZERO);
        assert!(
            busy <= wall.elapsed() + Duration::from_millis(1),
            "{busy:?}"
        );
    }
}
