//! The PostgreSQL backend: one database shared by several appliances.
//!
//! Plain connections (TCP or unix socket) without TLS: the database is on the appliance's
//! host or its management network. The statements are the store's portable SQL with the `?`
//! placeholders numbered `$1`, `$2`, ...; integers are bound as int8 (the schema's BIGINT),
//! NULL as a NULL int8 (only integer columns are nullable).
//!
//! Migrations: the same files as SQLite, recorded in a `schema_migrations` table (version,
//! name, applied_at). All of them run in one transaction that first takes a
//! transaction-scoped advisory lock ([`MIGRATION_LOCK`]), so two appliances starting together
//! queue on the lock and the second sees the first's work; PostgreSQL's DDL is
//! transactional, so a failed migration leaves nothing behind.

use crate::store::{Backend, Migration, Result, Store, StoreError, Val};
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;

/// The PostgreSQL store.
pub type PgStore = Store<PgBackend>;

/// The advisory lock key of the migrations ("vpndbmig" in ASCII).
pub const MIGRATION_LOCK: i64 = 0x0076_7064_626d_6967;

/// A PostgreSQL connection as a [`Backend`].
pub struct PgBackend {
    client: Client,
    /// Prepared statements by their SQL (the store's SQL is a small fixed set): one round
    /// trip per statement instead of two.
    prepared: HashMap<String, Statement>,
}

impl PgBackend {
    fn prepare(&mut self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.prepared.get(sql) {
            return Ok(st.clone());
        }
        let st = self
            .client
            .prepare(&number_placeholders(sql))
            .map_err(err)?;
        self.prepared.insert(sql.to_owned(), st.clone());
        Ok(st)
    }
}

fn err(e: postgres::Error) -> StoreError {
    let code = e.code().map(|c| c.code().to_owned());
    // 40001 serialization_failure, 40P01 deadlock_detected.
    let retryable = matches!(code.as_deref(), Some("40001") | Some("40P01"));
    let msg = match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    };
    StoreError::Backend {
        backend: "postgres",
        msg,
        retryable,
    }
}

/// `?` → `$n` (the store's SQL has no `?` inside literals).
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn boxed(params: &[Val]) -> Vec<Box<dyn ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn ToSql + Sync> {
            match v {
                Val::Null => Box::new(None::<i64>),
                Val::Int(i) => Box::new(*i),
                Val::Text(s) => Box::new(s.clone()),
                Val::Blob(b) => Box::new(b.clone()),
            }
        })
        .collect()
}

impl PgStore {
    /// Connects with a libpq-style URL or key=value string and applies the migrations.
    pub fn connect(url: &str) -> Result<Self> {
        let client = Client::connect(url, NoTls).map_err(err)?;
        Store::new(PgBackend {
            client,
            prepared: HashMap::new(),
        })
    }
}

impl Backend for PgBackend {
    const NAME: &'static str = "postgres";

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        let st = self.prepare(sql)?;
        self.client.execute(&st, &refs).map_err(err)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>> {
        let b = boxed(params);
        let refs: Vec<&(dyn ToSql + Sync)> = b.iter().map(|x| x.as_ref()).collect();
        let st = self.prepare(sql)?;
        let rows = self.client.query(&st, &refs).map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(r.len());
            for (i, c) in r.columns().iter().enumerate() {
                let t = c.type_();
                let v = if *t == Type::INT8 {
                    r.try_get::<_, Option<i64>>(i).map_err(err)?.map(Val::Int)
                } else if *t == Type::INT4 {
                    r.try_get::<_, Option<i32>>(i)
                        .map_err(err)?
                        .map(|x| Val::Int(x.into()))
                } else if *t == Type::INT2 {
                    r.try_get::<_, Option<i16>>(i)
                        .map_err(err)?
                        .map(|x| Val::Int(x.into()))
                } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME {
                    r.try_get::<_, Option<String>>(i)
                        .map_err(err)?
                        .map(Val::Text)
                } else if *t == Type::BYTEA {
                    r.try_get::<_, Option<Vec<u8>>>(i)
                        .map_err(err)?
                        .map(Val::Blob)
                } else {
                    return Err(StoreError::Backend {
                        backend: "postgres",
                        msg: format!("column {} has unexpected type {t}", c.name()),
                        retryable: false,
                    });
                };
                row.push(v.unwrap_or(Val::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<()> {
        self.client.batch_execute("BEGIN").map_err(err)
    }

    fn commit(&mut self) -> Result<()> {
        self.client.batch_execute("COMMIT").map_err(err)
    }

    fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
    }

    fn schema_version(&mut self) -> Result<i64> {
        let exists = self
            .client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .map_err(err)?
            .get::<_, bool>(0);
        if !exists {
            return Ok(0);
        }
        let row = self
            .client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(err)?;
        Ok(row.get::<_, i64>(0))
    }

    fn migrate(&mut self, migrations: &[Migration]) -> Result<Vec<i64>> {
        let known = migrations.last().map(|m| m.version).unwrap_or(0);
        let mut tx = self.client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (\
             version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .map_err(err)?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .map_err(err)?
            .get(0);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        let mut applied = Vec::new();
        for m in migrations.iter().filter(|m| m.version > current) {
            tx.batch_execute(m.sql).map_err(|e| StoreError::Backend {
                backend: "postgres",
                msg: format!("migration {:03}_{}: {}", m.version, m.name, err(e)),
                retryable: false,
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) \
                 VALUES ($1, $2, EXTRACT(EPOCH FROM now())::BIGINT)",
                &[&m.version, &m.name],
            )
            .map_err(err)?;
            applied.push(m.version);
        }
        tx.commit().map_err(err)?;
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(
            super::number_placeholders("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
    }
}
