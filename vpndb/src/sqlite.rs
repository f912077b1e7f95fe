//! The SQLite backend: the default store of one appliance, a file created on first start.
//!
//! The connection runs in WAL mode (readers do not block the writer: the AAA keeps reading
//! while the web page writes), with foreign keys on and a busy timeout so that two processes
//! on one file wait for each other instead of failing. Write transactions are
//! `BEGIN IMMEDIATE`: the write lock is taken at the start, so a read-modify-write cannot be
//! overtaken between its read and its write.
//!
//! Migrations: `PRAGMA user_version` holds the schema version; each migration runs in its
//! own `BEGIN IMMEDIATE` transaction together with the `user_version` update, after
//! re-reading the version under the lock, so two processes opening a new file together apply
//! each migration once.

use crate::store::{Backend, Migration, Result, Store, StoreError, Val};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode};
use std::path::Path;
use std::time::Duration;

/// The SQLite store.
pub type SqliteStore = Store<SqliteBackend>;

/// How long a writer waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite connection as a [`Backend`].
pub struct SqliteBackend {
    conn: Connection,
}

fn err(e: rusqlite::Error) -> StoreError {
    let retryable = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    StoreError::Backend {
        backend: "sqlite",
        msg: e.to_string(),
        retryable,
    }
}

fn to_value(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Int(i) => Value::Integer(*i),
        Val::Text(s) => Value::Text(s.clone()),
        Val::Blob(b) => Value::Blob(b.clone()),
    }
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file at `path` and applies the migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path).map_err(err)?;
        Store::new(SqliteBackend::configure(conn)?)
    }

    /// A private in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(err)?;
        Store::new(SqliteBackend::configure(conn)?)
    }
}

impl SqliteBackend {
    fn configure(conn: Connection) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        // journal_mode answers with a row; "memory" for in-memory databases.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(err)?;
        conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(err)?;
        Ok(SqliteBackend { conn })
    }

    /// The journal mode in force (`wal` for a file).
    pub fn journal_mode(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(err)
    }
}

impl Backend for SqliteBackend {
    const NAME: &'static str = "sqlite";

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let mut st = self.conn.prepare_cached(sql).map_err(err)?;
        let n = st
            .execute(params_from_iter(params.iter().map(to_value)))
            .map_err(err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>> {
        let mut st = self.conn.prepare_cached(sql).map_err(err)?;
        let cols = st.column_count();
        let mut rows = st
            .query(params_from_iter(params.iter().map(to_value)))
            .map_err(err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut row = Vec::with_capacity(cols);
            for i in 0..cols {
                row.push(match r.get_ref(i).map_err(err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(i) => Val::Int(i),
                    ValueRef::Real(f) => Val::Text(f.to_string()),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                });
            }
            out.push(row);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(err)
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn schema_version(&mut self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)
    }

    fn migrate(&mut self, migrations: &[Migration]) -> Result<Vec<i64>> {
        let known = migrations.last().map(|m| m.version).unwrap_or(0);
        let mut applied = Vec::new();
        for m in migrations {
            self.begin()?;
            let r = (|| {
                let current = self.schema_version()?;
                if current > known {
                    return Err(StoreError::SchemaTooNew {
                        found: current,
                        known,
                    });
                }
                if current >= m.version {
                    return Ok(false);
                }
                self.conn
                    .execute_batch(m.sql)
                    .map_err(|e| StoreError::Backend {
                        backend: "sqlite",
                        msg: format!("migration {:03}_{}: {e}", m.version, m.name),
                        retryable: false,
                    })?;
                // PRAGMA takes no bound parameters; the version is our own integer.
                self.conn
                    .execute_batch(&format!("PRAGMA user_version = {}", m.version))
                    .map_err(err)?;
                Ok(true)
            })();
            match r {
                Ok(did) => {
                    self.commit()?;
                    if did {
                        applied.push(m.version);
                    }
                }
                Err(e) => {
                    self.rollback();
                    return Err(e);
                }
            }
        }
        Ok(applied)
    }
}
