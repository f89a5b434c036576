//! Work that outlives its request: after the answer (mail, mostly: a bounded number of tasks at
//! once, so that a page answers the same whatever the work behind it costs or whether it fails,
//! and a flood cannot grow memory without limit; over the bound, work is dropped and logged),
//! and the writes a request must not leave half done when its client goes away ([`Background::finish`]).
//!
//! Tasks run on the runtime that opened the application, not on the request's: a server
//! worker's runtime is dropped when the worker stops, and its tasks with it, while the opening
//! runtime waits for [`Background::idle`] at shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

/// Tails started by [`Background::finish`] at once before one runs in its request instead
/// (a bound that only a runaway would reach: each is a few store writes).
const MAX_TAILS: u32 = 1 << 16;

/// Tasks running after their request answered, and tails that must finish.
#[derive(Clone)]
pub struct Background {
    slots: Arc<Semaphore>,
    max: u32,
    tails: Arc<Semaphore>,
    /// Woken each time a tail ends (for [`Background::idle`]).
    tail_ended: Arc<Notify>,
    spawned: Arc<AtomicU64>,
    runtime: Option<Handle>,
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
    /// At most `max` tasks at once (at least one), run on the current runtime (the one that
    /// opens the application).
    pub fn new(max: usize) -> Self {
        let max = u32::try_from(max.clamp(1, 1 << 20)).unwrap_or(1 << 20);
        Self {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            tails: Arc::new(Semaphore::new(MAX_TAILS as usize)),
            tail_ended: Arc::default(),
            spawned: Arc::default(),
            runtime: Handle::try_current().ok(),
        }
    }

    /// The opening runtime, or the caller's when there is none.
    fn runtime(&self) -> Option<Handle> {
        self.runtime.clone().or_else(|| Handle::try_current().ok())
    }

    /// Runs `work` to its end even when the caller is dropped at an `.await` (its client went
    /// away): the writes that must not be left half done (a password stored, then the user's
    /// sessions ended) go in one `finish`, after the part that may be abandoned (the password
    /// check). The caller waits for its answer as before. Never refused: past [`MAX_TAILS`]
    /// running, or outside a runtime, `work` runs in the caller.
    ///
    /// `work` starts here, not at the first poll (when it runs in the caller instead, at the
    /// first poll), and the future returned holds only the task's handle: an `async fn` would
    /// keep `work` in its state for as long as it waits (a password reset's answer held ~6 KiB
    /// more by every request waiting for its hash).
    pub fn finish<F, T, E>(
        &self,
        what: &'static str,
        work: F,
    ) -> impl Future<Output = Result<T, E>> + Send + use<F, T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let started = match (self.tails.clone().try_acquire_owned(), self.runtime()) {
            (Ok(tail), Some(rt)) => {
                let slot = TailSlot::new(tail, &self.tail_ended);
                Tail::Spawned(rt.spawn(async move {
                    let out = work.await;
                    drop(slot);
                    out
                }))
            }
            (tail, _) => {
                if tail.is_err() {
                    tracing::warn!(
                        task = what,
                        "too many unfinished tails: running in the request"
                    );
                }
                Tail::Inline(Box::pin(work))
            }
        };
        async move {
            match started {
                Tail::Spawned(handle) => handle.await.unwrap_or_else(|e| {
                    // The runtime is shutting down (or the work panicked): what it did stands.
                    tracing::error!(task = what, error = %e, "a must-finish task did not finish");
                    Err(StoreError::Cancelled.into())
                }),
                Tail::Inline(work) => work.await,
            }
        }
    }

    /// Starts `work`, a must-finish tail nobody waits for (a drop guard's clean-up): counted
    /// with the tails of [`Background::finish`], not refused by the bound on mail; dropped
    /// with a log line only past [`MAX_TAILS`] or outside a runtime.
    pub fn detach<F>(&self, what: &'static str, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (Ok(tail), Some(rt)) = (self.tails.clone().try_acquire_owned(), self.runtime()) else {
            tracing::warn!(
                task = what,
                "must-finish work dropped: too many running or no runtime"
            );
            return;
        };
        let slot = TailSlot::new(tail, &self.tail_ended);
        rt.spawn(async move {
            work.await;
            drop(slot);
        });
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
        let Some(rt) = self.runtime() else {
            tracing::warn!(task = what, "background work dropped: no runtime");
            return false;
        };
        self.spawned.fetch_add(1, Ordering::Relaxed);
        rt.spawn(async move {
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

    /// Waits until no task or tail is running (tests; shutdown). Tasks spawned meanwhile may
    /// be dropped, so call it when no request is arriving.
    pub async fn idle(&self) {
        // Tails are waited for without taking their slots, so new ones still start meanwhile.
        loop {
            let mut ended = std::pin::pin!(self.tail_ended.notified());
            ended.as_mut().enable();
            if self.tails.available_permits() == MAX_TAILS as usize {
                break;
            }
            ended.await;
        }
        if let Ok(all) = self.slots.acquire_many(self.max).await {
            drop(all);
        }
    }
}

/// Where [`Background::finish`] runs its work: a task of its own, or (no slot or no runtime)
/// the caller's future, boxed so this rare path does not size the common one.
enum Tail<T, F> {
    Spawned(tokio::task::JoinHandle<T>),
    Inline(std::pin::Pin<Box<F>>),
}

/// A running tail's slot: given back, and [`Background::idle`] woken, however the tail ends
/// (a panic included).
struct TailSlot {
    permit: Option<OwnedSemaphorePermit>,
    ended: Arc<Notify>,
}

impl TailSlot {
    fn new(permit: OwnedSemaphorePermit, ended: &Arc<Notify>) -> Self {
        Self {
            permit: Some(permit),
            ended: ended.clone(),
        }
    }
}

impl Drop for TailSlot {
    fn drop(&mut self) {
        // The slot first, so that a woken `idle` sees it free.
        drop(self.permit.take());
        self.ended.notify_waiters();
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

    #[tokio::test]
    async fn a_tail_finishes_when_its_caller_is_dropped() {
        let bg = Background::new(1);
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let steps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let s = steps.clone();
        let work = async move {
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = wait.await;
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, StoreError>(())
        };
        // The caller waits for its tail, then is dropped (its request went away) mid-way.
        let mut caller = Box::pin(bg.finish("test", work));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(caller.as_mut().poll(&mut cx).is_pending());
        drop(caller);
        tokio::task::yield_now().await;
        assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), 1);
        go.send(()).unwrap();
        bg.idle().await;
        assert_eq!(
            steps.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the tail ran on"
        );
        // And a caller that stays gets the tail's answer.
        let answer = bg.finish("test", async { Ok::<_, StoreError>(7) }).await;
        assert_eq!(answer.ok(), Some(7));
        // A tail starts when it is handed over, not when its caller is first polled.
        let s = steps.clone();
        drop(bg.finish("test", async move {
            s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, StoreError>(())
        }));
        bg.idle().await;
        assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
