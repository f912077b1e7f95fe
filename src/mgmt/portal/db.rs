//! The portal's connection to the VPN database: one thread owns the store (SQLite or
//! PostgreSQL, both blocking clients) and runs the page's jobs one at a time; the async
//! handlers wait for the answer on a oneshot channel. Keeping the blocking client off the
//! API's runtime means a slow database never stalls the management API, and the store's
//! connection is used by one thread only.
//!
//! The store is opened when the thread starts; when that fails, or a job fails with a backend
//! error (the connection dropped, PostgreSQL restarted), it is opened again by the next job.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

use vpndb::{StoreError, VpnStore};

/// Jobs waiting for the database thread; more are refused (503) rather than queued.
pub const QUEUE: usize = 64;

/// How long a handler waits for its job's answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

/// Why a job did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The store answered with an error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The queue is full, the thread is gone, or the answer took longer than [`TIMEOUT`].
    #[error("the VPN database is not answering ({0})")]
    Unavailable(&'static str),
}

/// The database thread's side: the URL and the store when open.
struct Conn {
    url: String,
    store: Option<Box<dyn VpnStore>>,
}

impl Conn {
    fn store(&mut self) -> Result<&mut dyn VpnStore, StoreError> {
        if self.store.is_none() {
            self.store = Some(vpndb::open(&self.url)?);
        }
        match self.store.as_mut() {
            Some(s) => Ok(s.as_mut()),
            None => Err(StoreError::BadUrl(self.url.clone())),
        }
    }
}

/// The handle the handlers use.
pub struct Db {
    tx: SyncSender<Job>,
}

/// The URL without a password (`postgres://user:secret@host` → `postgres://user:***@host`),
/// for logs.
pub fn redacted(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((cred, host)) = rest.split_once('@') {
            if let Some((user, _)) = cred.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

impl Db {
    /// Starts the thread for `url` and opens the store (migrations applied). A failure to
    /// open is logged and retried by the first job: the rest of the appliance starts anyway.
    pub fn start(url: &str) -> Result<Db, String> {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let mut conn = Conn {
            url: url.to_string(),
            store: None,
        };
        let shown = redacted(url);
        std::thread::Builder::new()
            .name("varouter-portal-db".into())
            .spawn(move || {
                match conn.store() {
                    Ok(s) => tracing::info!(
                        "portal: VPN database {shown} ({}, schema {})",
                        s.backend(),
                        s.schema_version().unwrap_or(0)
                    ),
                    Err(e) => tracing::warn!(
                        "portal: cannot open the VPN database {shown}: {e}; retrying at the next request"
                    ),
                }
                // Ends when the portal (every sender) is dropped.
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(|e| format!("portal database thread: {e}"))?;
        Ok(Db { tx })
    }

    /// Runs `f` on the store in the database thread and waits for its answer.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn VpnStore) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, DbError> {
        let (otx, orx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c: &mut Conn| {
            let r = c.store().and_then(f);
            if let Err(StoreError::Backend { .. } | StoreError::BadUrl(_)) = &r {
                // Open a fresh connection next time (a dropped PostgreSQL connection stays
                // broken otherwise).
                c.store = None;
            }
            let _ = otx.send(r);
        });
        self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => DbError::Unavailable("too many requests waiting"),
            TrySendError::Disconnected(_) => DbError::Unavailable("its thread stopped"),
        })?;
        match tokio::time::timeout(TIMEOUT, orx).await {
            Ok(Ok(r)) => r.map_err(DbError::Store),
            Ok(Err(_)) => Err(DbError::Unavailable("its thread stopped")),
            Err(_) => Err(DbError::Unavailable("no answer within 10 s")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_logged() {
        assert_eq!(
            super::redacted("postgres://vpn:s3cret@db:5432/vpn"),
            "postgres://vpn:***@db:5432/vpn"
        );
        assert_eq!(
            super::redacted("postgres://vpn@db/vpn"),
            "postgres://vpn@db/vpn"
        );
        assert_eq!(super::redacted("sqlite:/a/b"), "sqlite:/a/b");
    }
}
