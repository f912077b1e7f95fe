//! The mobile VPN's database per user (seed 003, issue 16).
//!
//! [`model`] holds the shared data types — the VPN data instances of the VPN database
//! (Fig. 5), the SLA (Fig. 4), the CN → GW table (Fig. 8) and the VPN information cache
//! (Fig. 7) — with no database behind them: the AAA engines in `controlplane` depend on this
//! crate with `default-features = false` and get only the model. The stores (SQLite, the
//! default for one appliance; PostgreSQL, for several appliances sharing one database) sit
//! behind the `sqlite` and `postgres` features.
//!
//! [`store`] has the [`VpnStore`] trait (profiles by NAI, the service-update mark of Fig. 30,
//! the SLAs and the CN → GW table, the audit of every change, the users' logins and current
//! tunnels for the web page) and its implementation over a
//! SQL backend; [`sqlite`] and [`pg`] are the two backends, sharing the SQL and the migration
//! files (`vpndb/migrations/NNN_name.sql`). [`open`] picks one from a `--db` URL.

pub mod model;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;

pub use model::{
    AddrMask, AuditRecord, CnGwEntry, GwType, KeyBytes, ModelError, Nai, Qos, SaKeys, SecurityType,
    Sla, StoredProfile, UserVpn, VpnCacheEntry, VpnCacheProfile, VpnDocument, VpnProfile,
    VpnSession, VpnShare,
};

pub use store::{ImportCounts, SessionChange, SessionChangeCounts, StoreError, VpnStore};

/// Opens the store a `--db` URL names: `sqlite:PATH` (the file is created on first use) or
/// `postgres://...` / `postgresql://...` (libpq URL). Migrations are applied.
pub fn open(url: &str) -> Result<Box<dyn VpnStore>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.into()));
            }
            return Ok(Box::new(sqlite::SqliteStore::open(std::path::Path::new(
                path,
            ))?));
        }
        #[cfg(not(feature = "sqlite"))]
        {
            let _ = path;
            return Err(StoreError::BadUrl(format!("{url} (built without sqlite)")));
        }
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            return Ok(Box::new(pg::PgStore::connect(url)?));
        }
        #[cfg(not(feature = "postgres"))]
        {
            return Err(StoreError::BadUrl(format!(
                "{url} (built without postgres)"
            )));
        }
    }
    Err(StoreError::BadUrl(url.into()))
}
