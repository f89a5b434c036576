//! The audit writer: rows recorded by requests queue here (bounded) for one task that writes
//! whatever has queued with one commit, so that a burst of sign-ins shares it instead of
//! taking one each, off the requests' path.

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::store::sql::SqlStore;
use crate::store::sql::audit::{self as rows, AuditEvent};

/// Rows waiting for the writer at most; a recorder that finds the queue full writes its own
/// row (the queue never grows, and no row is dropped for want of room).
const QUEUE: usize = 4096;
/// Rows in one write at most.
const BATCH: usize = 256;

/// The queue in front of the audit writer; cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditLog {
    queue: Option<mpsc::Sender<Queued>>,
}

#[derive(Debug)]
enum Queued {
    Row(AuditEvent),
    /// Answered once every row queued before it is written (or has failed).
    Flush(oneshot::Sender<()>),
}

impl AuditLog {
    /// Starts the writer on the current runtime (the one that opens the application, which
    /// runs until shutdown); outside a runtime, every recorder writes its own row.
    pub fn start(sql: SqlStore) -> Self {
        let Ok(runtime) = Handle::try_current() else {
            return Self { queue: None };
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        runtime.spawn(write(sql, rx));
        Self { queue: Some(tx) }
    }

    /// Queues `row` for the writer, or gives it back (`Some`) when there is no writer or no
    /// room: the caller then writes it itself, so the queue never grows and no row is dropped
    /// for want of room.
    pub fn offer(&self, row: AuditEvent) -> Option<AuditEvent> {
        let Some(queue) = &self.queue else {
            return Some(row);
        };
        match queue.try_send(Queued::Row(row)) {
            Ok(()) => None,
            Err(
                mpsc::error::TrySendError::Full(Queued::Row(row))
                | mpsc::error::TrySendError::Closed(Queued::Row(row)),
            ) => Some(row),
            // Only rows are offered.
            Err(_) => None,
        }
    }

    /// Returns once every row recorded before the call is in SQL (or its write has failed):
    /// before reading the trail, and before the process exits.
    pub async fn flush(&self) {
        let Some(queue) = &self.queue else { return };
        let (tx, rx) = oneshot::channel();
        if queue.send(Queued::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// The writer: takes what has queued (up to `BATCH` rows) and writes it with one commit, so
/// that rows recorded while one write runs go out together in the next.
async fn write(sql: SqlStore, mut rx: mpsc::Receiver<Queued>) {
    let (mut batch, mut flushes) = (Vec::new(), Vec::new());
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(queued) = next.take() {
            match queued {
                Queued::Row(e) => batch.push(e),
                Queued::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let taken = std::mem::take(&mut batch);
            let n = taken.len();
            // A row the database refuses (its pool deleted meanwhile, say) must not take the
            // others with it: the batch is then written row by row.
            let written = sql
                .run(move |c| match rows::insert_all(c, &taken) {
                    Ok(()) => Ok(n),
                    Err(_) => Ok(taken.iter().filter(|r| rows::insert(c, r).is_ok()).count()),
                })
                .await;
            match written {
                Ok(k) if k == n => {}
                Ok(k) => tracing::warn!(events = n - k, "audit events not recorded"),
                Err(e) => tracing::warn!(error = %e, events = n, "audit events not recorded"),
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}
