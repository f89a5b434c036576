//! Work done after the answer (mail, mostly): a bounded number of tasks at once, so that a page
//! answers the same whatever the work behind it costs or whether it fails, and a flood cannot
//! grow memory without limit (over the bound, work is dropped and logged).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

/// Tasks running after their request answered.
#[derive(Clone)]
pub struct Background {
    slots: Arc<Semaphore>,
    max: u32,
    spawned: Arc<AtomicU64>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("running", &self.running())
            .field("max", &self.max)
            .finish()
    }
}

impl Background {
    /// At most `max` tasks at once (at least one).
    pub fn new(max: usize) -> Self {
        let max = u32::try_from(max.clamp(1, 1 << 20)).unwrap_or(1 << 20);
        Self {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            spawned: Arc::default(),
        }
    }

    /// Runs `work` on the runtime after the caller returns; `false` (and a log line) when
    /// `max` tasks are already running, in which case `work` is dropped.
    pub fn spawn<F>(&self, what: &'static str, work: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(
                task = what,
                "background work dropped: too many tasks running"
            );
            return false;
        };
        self.spawned.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            work.await;
            drop(slot);
        });
        true
    }

    /// How many tasks were started since the process began.
    pub fn spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// How many tasks are running.
    pub fn running(&self) -> usize {
        (self.max as usize).saturating_sub(self.slots.available_permits())
    }

    /// Waits until no task is running (tests; shutdown). Tasks spawned meanwhile may be
    /// dropped, so call it when no request is arriving.
    pub async fn idle(&self) {
        if let Ok(all) = self.slots.acquire_many(self.max).await {
            drop(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_bounded_and_waits_for_idle() {
        let bg = Background::new(2);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let d = done.clone();
        assert!(bg.spawn("a", async move {
            let _ = rx.await;
            d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        let d = done.clone();
        assert!(bg.spawn("b", async move {
            d.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
        // On this single-threaded runtime neither has run yet: both slots are taken, and a
        // third task is dropped rather than queued.
        assert_eq!(bg.running(), 2);
        assert!(!bg.spawn("c", async {}));
        tx.send(()).unwrap();
        bg.idle().await;
        assert_eq!(bg.running(), 0);
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
