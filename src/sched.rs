//! How the OS schedules the server's request threads: Linux's `SCHED_BATCH`, so that a
//! thread woken by an answer (a browser's request, Redis, PostgreSQL) waits for the running
//! password hash's time slice instead of interrupting it at once.
//!
//! Each interruption costs the hashing core an interrupt, two thread switches and a colder
//! cache; a sign-in on PostgreSQL + Redis makes about twenty such round trips. Measured on
//! the benchmark (2 cores, server pinned to one): the work besides the hash fell from 17 % to
//! 13 % of it, the PostgreSQL + Redis sign-in rate rose accordingly, and the embedded stores
//! were unchanged. The price is latency while every core is hashing: a woken request waits up
//! to one time slice (a few milliseconds). When a core is idle, wake-ups are immediate as
//! before. `thread_scheduling = "normal"` turns it off.

pub use crate::config::ThreadScheduling;

/// Applies `policy` to the calling thread; threads it starts afterwards inherit it.
pub fn apply_to_this_thread(policy: ThreadScheduling) -> std::io::Result<()> {
    match policy {
        ThreadScheduling::Normal => Ok(()),
        ThreadScheduling::Batch => batch_this_thread(),
    }
}

#[cfg(target_os = "linux")]
fn batch_this_thread() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread, `param` lives for the call, and SCHED_BATCH with
    // priority 0 needs no privilege; the call changes nothing but this thread's policy.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn batch_this_thread() -> std::io::Result<()> {
    Ok(())
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
    }
}
