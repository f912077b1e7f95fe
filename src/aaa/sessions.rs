//! The AAAH's session writer: the `vpn_session` rows written OFF the registration path.
//!
//! The AAA thread turns each [`SessionEvent`] into [`SessionChange`]s and hands them to this
//! writer's thread through a bounded queue ([`SESSION_QUEUE`] events) without ever waiting:
//! when the queue is full the event is dropped and counted (`dropped`), and the registration
//! is answered all the same. The writer has its own database connection (so a slow commit —
//! PostgreSQL waits for a disk flush per commit — never delays a lookup) and writes what is
//! queued in batches of at most [`SESSION_BATCH`] changes, one transaction each
//! ([`VpnStore::apply_session_changes`]). One queue and one writer keep the order of the
//! changes, so a session's record and end reach the table in the order the AAA saw them.
//!
//! A batch the database refuses is counted (`failed`, per change) and logged (rate-limited):
//! its rows are missing from the web page's current tunnels, as with a dropped event; a
//! session whose end was lost keeps its rows until their `expires_at`. On shutdown the
//! writer writes everything still queued before its thread ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use controlplane::aaa::home::SessionEvent;
use vpndb::{SessionChange, VpnStore};

use super::session_rows;

/// Most session events waiting for the writer; more are dropped (and counted).
pub const SESSION_QUEUE: usize = 65_536;
/// Most changes written in one transaction.
pub const SESSION_BATCH: usize = 1024;

/// The writer's counters (shared between the AAA thread and the writer's thread).
#[derive(Debug, Default)]
struct Counters {
    recorded: AtomicU64,
    ended: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
}

/// The writer's counters, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionWriterStats {
    /// Rows written (created or replaced).
    pub recorded: u64,
    /// Sessions ended (their rows removed).
    pub ended: u64,
    /// Changes the database refused (their batch failed, or the row was invalid).
    pub failed: u64,
    /// Changes dropped because the queue was full (or the writer was gone).
    pub dropped: u64,
    /// Transactions written.
    pub batches: u64,
}

/// The handle the AAA thread keeps: submit events, read counters, flush and stop.
pub struct SessionWriter {
    tx: Option<SyncSender<Vec<SessionChange>>>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl SessionWriter {
    /// Starts the writer's thread on `store` (its own connection), with a queue of
    /// `queue` events and at most `batch` changes per transaction.
    pub fn start(
        store: Box<dyn VpnStore>,
        queue: usize,
        batch: usize,
    ) -> Result<SessionWriter, String> {
        let (tx, rx) = sync_channel(queue.max(1));
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let batch = batch.max(1);
        let thread = std::thread::Builder::new()
            .name("aaa-sessions".into())
            .spawn(move || write_loop(store, rx, &c, batch))
            .map_err(|e| format!("cannot start the AAA session writer thread: {e}"))?;
        Ok(SessionWriter {
            tx: Some(tx),
            counters,
            thread: Some(thread),
        })
    }

    /// Queues the changes of one session event; never blocks (a full queue drops them).
    pub fn submit(&self, ev: SessionEvent) {
        let changes = changes_of(ev);
        if changes.is_empty() {
            return;
        }
        let n = changes.len() as u64;
        let Some(tx) = &self.tx else {
            self.counters.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        };
        match tx.try_send(changes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let before = self.counters.dropped.fetch_add(n, Ordering::Relaxed);
                if before == 0 || (before + n) / 10_000 != before / 10_000 {
                    tracing::warn!(
                        dropped = before + n,
                        "AAA: the session writer's queue is full (or the writer is gone): \
                         session changes dropped, their tunnels are missing from vpn_session"
                    );
                }
            }
        }
    }

    /// The counters now.
    pub fn stats(&self) -> SessionWriterStats {
        let c = &self.counters;
        SessionWriterStats {
            recorded: c.recorded.load(Ordering::Relaxed),
            ended: c.ended.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
        }
    }

    /// Writes everything queued, stops the thread and returns the final counters.
    pub fn finish(mut self) -> SessionWriterStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        // Closing the queue ends the writer once it has written what is in it.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("AAA session writer thread panicked");
            }
        }
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The `vpn_session` changes of one event: the session's rows, or its end.
fn changes_of(ev: SessionEvent) -> Vec<SessionChange> {
    match ev {
        SessionEvent::Up(s) => {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let left = s
                .expires
                .saturating_duration_since(Instant::now())
                .as_secs() as i64;
            session_rows(&s, unix, unix + left)
                .into_iter()
                .map(SessionChange::Record)
                .collect()
        }
        SessionEvent::Down { session_id } => vec![SessionChange::End(session_id)],
    }
}

fn write_loop(
    mut store: Box<dyn VpnStore>,
    rx: Receiver<Vec<SessionChange>>,
    c: &Counters,
    max: usize,
) {
    let mut batch: Vec<SessionChange> = Vec::with_capacity(max);
    // `recv` fails only once the queue is closed AND empty: everything queued is written.
    while let Ok(first) = rx.recv() {
        batch.extend(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(more) => batch.extend(more),
                Err(_) => break,
            }
        }
        match store.apply_session_changes(&batch) {
            Ok(n) => {
                c.recorded.fetch_add(n.recorded, Ordering::Relaxed);
                c.ended.fetch_add(n.ended, Ordering::Relaxed);
                c.batches.fetch_add(1, Ordering::Relaxed);
                if n.invalid > 0 {
                    let before = c.failed.fetch_add(n.invalid, Ordering::Relaxed);
                    tracing::warn!(
                        failures = before + n.invalid,
                        "AAA: {} session rows refused as invalid",
                        n.invalid
                    );
                }
            }
            Err(e) => {
                let n = batch.len() as u64;
                let before = c.failed.fetch_add(n, Ordering::Relaxed);
                if before == 0 || (before + n) / 1000 != before / 1000 {
                    tracing::warn!(
                        failures = before + n,
                        "AAA: writing {n} session changes into the VPN database failed: {e}"
                    );
                }
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use vpndb::store::Backend;
    use vpndb::{GwType, Nai, VpnSession};

    fn row(id: &str, now: i64) -> VpnSession {
        VpnSession {
            session_id: id.into(),
            nai: Nai::parse("alice@isp.example").unwrap(),
            profile_number: 1,
            fa: Ipv4Addr::new(192, 0, 2, 10),
            ha: Ipv4Addr::new(192, 0, 2, 1),
            src_gw: Ipv4Addr::new(192, 0, 2, 10),
            dst_gw: Ipv4Addr::new(203, 0, 113, 9),
            gw_type: GwType::Dynamic,
            up_spi: 12288,
            down_spi: 12289,
            created_at: now,
            expires_at: now + 600,
        }
    }

    /// The database is locked by another connection (the writer waits in SQLite's busy
    /// timeout): the AAA side never waits, a full queue drops and counts, and what was queued
    /// is written in order once the lock is gone and on finish.
    #[test]
    fn a_full_queue_drops_and_counts_and_the_queued_changes_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpn.sqlite");
        let url = format!("sqlite:{}", path.display());
        let mut setup = vpndb::open(&url).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for i in 0..8 {
            setup.record_session(&row(&format!("s{i}"), now)).unwrap();
        }
        let w = SessionWriter::start(vpndb::open(&url).unwrap(), 2, 1).unwrap();
        let mut locker = vpndb::sqlite::SqliteStore::open(&path).unwrap();
        locker.backend_mut().begin().unwrap();
        let t0 = Instant::now();
        for i in 0..8 {
            w.submit(SessionEvent::Down {
                session_id: format!("s{i}"),
            });
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(1),
            "submit waited for the database"
        );
        // At most one change in the writer's hands and two in the queue.
        let s = w.stats();
        assert!(s.dropped >= 5, "{s:?}");
        assert_eq!((s.ended, s.failed), (0, 0), "{s:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        locker.backend_mut().rollback();
        let s = w.finish();
        assert_eq!(s.failed, 0, "{s:?}");
        assert_eq!(s.ended + s.dropped, 8, "{s:?}");
        assert!(s.ended >= 2 && s.batches == s.ended, "{s:?}");
        // The ended sessions are gone and the dropped ones remain. Which ones were dropped
        // depends on when the writer took a change off the queue (a later change can find
        // room an earlier one did not), but the first two always fit: the queue holds two.
        let left: Vec<String> = setup
            .sessions_of_nai(&Nai::parse("alice@isp.example").unwrap())
            .unwrap()
            .into_iter()
            .map(|r| r.session_id)
            .collect();
        assert_eq!(left.len() as u64, s.dropped, "{left:?} {s:?}");
        assert!(
            !left.iter().any(|x| x == "s0" || x == "s1"),
            "{left:?} {s:?}"
        );
    }

    /// A batch the database refuses is counted per change, and the writer goes on.
    #[test]
    fn a_failed_batch_is_counted_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpn.sqlite");
        let url = format!("sqlite:{}", path.display());
        let setup = vpndb::open(&url).unwrap();
        let w = SessionWriter::start(vpndb::open(&url).unwrap(), 16, 16).unwrap();
        // The table gone under the writer: its next batch fails.
        drop(setup);
        let mut raw = vpndb::sqlite::SqliteStore::open(&path).unwrap();
        let rename = |raw: &mut vpndb::sqlite::SqliteStore, from: &str, to: &str| {
            raw.backend_mut()
                .exec(&format!("ALTER TABLE {from} RENAME TO {to}"), &[])
                .unwrap();
        };
        rename(&mut raw, "vpn_session", "vpn_session_away");
        w.submit(SessionEvent::Down {
            session_id: "x".into(),
        });
        let t0 = Instant::now();
        while w.stats().failed == 0 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(5),
                "no failure counted"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        rename(&mut raw, "vpn_session_away", "vpn_session");
        w.submit(SessionEvent::Down {
            session_id: "y".into(),
        });
        let s = w.finish();
        assert_eq!((s.failed, s.dropped, s.batches), (1, 0, 1), "{s:?}");
    }
}
