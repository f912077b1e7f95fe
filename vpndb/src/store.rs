//! The VPN database as a store: the [`VpnStore`] trait the AAA, the web page (Fig. 30) and the
//! `varouter vpndb` command use, and [`Store`], its one implementation over a SQL
//! [`Backend`] (SQLite or PostgreSQL).
//!
//! The SQL is written once, here, with `?` placeholders; the PostgreSQL backend numbers them
//! (`$1`, `$2`, ...). Every statement is portable between SQLite 3.35+ and PostgreSQL 9.5+
//! (`INSERT ... ON CONFLICT ... DO UPDATE`, `UPDATE ... RETURNING`); what differs — the
//! migration bookkeeping, opening a transaction, the connection settings — is in the
//! backends.
//!
//! Consistency between appliances sharing one PostgreSQL database: every change of a profile
//! starts with an `UPDATE` of its row (raising `version`), which holds the row lock until
//! commit, so read-modify-write changes (adding a destination) of the same profile are
//! serialized; the audit id comes last in each transaction from the `vpn_counter` row, and an
//! import writes its profiles in ascending number, so single changes and imports take their
//! locks in one order. Where orders can still cross (two imports naming SLAs in different
//! orders, an SLA change marking its profiles) PostgreSQL detects the deadlock and the
//! transaction is run again, as after a serialization failure (up to five runs in all).
//! SQLite takes the database's write lock at `BEGIN IMMEDIATE`.

use crate::model::{
    lookup_cn_gw, AddrMask, AuditRecord, CnGwEntry, GwType, KeyBytes, ModelError, Nai, Qos, SaKeys,
    SecurityType, Sla, StoredProfile, UserVpn, VpnDocument, VpnProfile, VpnSession, VpnShare,
};
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input was refused (bad NAI, bad address, inconsistent profile).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// No such profile, SLA or CN entry (or, for a user's own change, not that user's).
    #[error("not found: {0}")]
    NotFound(String),
    /// The change contradicts what is stored (an SLA still used by profiles, a destination
    /// already listed, a profile naming an unknown SLA).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row in the database does not make a valid model value (written by something else).
    #[error("corrupt row in {table}: {why}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The database's schema is newer than this program knows.
    #[error("database schema version {found} is newer than this program's {known}")]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest this program has.
        known: i64,
    },
    /// The `--db` URL is not `sqlite:PATH` or `postgres://...`.
    #[error("bad database URL {0:?}: expected sqlite:PATH or postgres://...")]
    BadUrl(String),
    /// The backend failed (connection, SQL, constraint).
    #[error("{backend}: {msg}")]
    Backend {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The backend's message.
        msg: String,
        /// A serialization failure or deadlock: running the transaction again may succeed.
        retryable: bool,
    },
}

/// A result of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// SLAs written.
    pub slas: usize,
    /// CN → GW rows written.
    pub cn_gw: usize,
    /// Profiles written.
    pub profiles: usize,
}

/// One change of the current tunnels (`vpn_session`), as the AAAH's session writer queues
/// them for [`VpnStore::apply_session_changes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// Create or replace the row of (`session_id`, `profile_number`), as
    /// [`VpnStore::record_session`].
    Record(VpnSession),
    /// Remove all rows of a session, as [`VpnStore::end_session`].
    End(String),
}

/// What [`VpnStore::apply_session_changes`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionChangeCounts {
    /// Rows created or replaced.
    pub recorded: u64,
    /// `End`s that removed at least one row.
    pub ended: u64,
    /// Rows those `End`s removed.
    pub rows_removed: u64,
    /// `Record`s refused by validation (not written; the rest of the batch is).
    pub invalid: u64,
}

/// The VPN database (Figs. 4, 5, 8) with the service-update marking of Fig. 30 and an audit of
/// every change. Every write names its actor (who) and leaves an [`AuditRecord`].
pub trait VpnStore: Send {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The schema version reached (the number of the last migration applied).
    fn schema_version(&mut self) -> Result<i64>;
    /// Applies the migrations not applied yet (done by `open`; running it again is a no-op).
    /// Returns the versions it applied.
    fn migrate(&mut self) -> Result<Vec<i64>>;

    /// All VPN data instances of a user, by profile number (S105: "searches the VPN database
    /// by the NAI").
    fn profiles_by_nai(&mut self, nai: &Nai) -> Result<Vec<StoredProfile>>;
    /// The profiles of a user for a registration: as [`profiles_by_nai`](Self::profiles_by_nai),
    /// and clears their service-update marks in the same transaction (the returned
    /// `service_update` is the mark as it was, so the AAAH knows which changed).
    fn profiles_for_registration(&mut self, nai: &Nai) -> Result<Vec<StoredProfile>>;
    /// What the AAAH needs for one registration ([`UserVpn`]), in one transaction. With
    /// `registration`, the service-update marks are read and cleared as by
    /// [`profiles_for_registration`](Self::profiles_for_registration). None when the user has
    /// no profile.
    fn user_vpn(&mut self, nai: &Nai, registration: bool) -> Result<Option<UserVpn>>;
    /// One profile by number.
    fn get_profile(&mut self, number: u32) -> Result<Option<StoredProfile>>;
    /// Every profile, by number.
    fn list_profiles(&mut self) -> Result<Vec<StoredProfile>>;
    /// Creates or replaces a profile (its SLA must exist). Raises the version and marks it
    /// for service update.
    fn upsert_profile(&mut self, actor: &str, p: &VpnProfile) -> Result<StoredProfile>;
    /// Deletes a profile; false when there was none.
    fn delete_profile(&mut self, actor: &str, number: u32) -> Result<bool>;
    /// Replaces a profile's destinations (the web page of Fig. 30). With `owner`, the profile
    /// must be that user's, else [`StoreError::NotFound`] (the same answer as for a missing
    /// profile, so ids cannot be probed).
    fn set_destinations(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dests: &[AddrMask],
    ) -> Result<StoredProfile>;
    /// Adds one destination at the end (read-modify-write in one transaction).
    fn add_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dest: AddrMask,
    ) -> Result<StoredProfile>;
    /// Removes one destination; the last one cannot be removed.
    fn remove_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dest: AddrMask,
    ) -> Result<StoredProfile>;
    /// Replaces one destination by another at the same position (read-modify-write in one
    /// transaction); `new` must not be listed already.
    fn replace_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        old: AddrMask,
        new: AddrMask,
    ) -> Result<StoredProfile>;
    /// Marks a profile changed (raises the version, sets the service-update mark) without
    /// changing it, e.g. after its SLA's keys changed.
    fn mark_changed(&mut self, actor: &str, number: u32) -> Result<StoredProfile>;

    /// One SLA by name.
    fn get_sla(&mut self, name: &str) -> Result<Option<Sla>>;
    /// Every SLA, by name.
    fn list_slas(&mut self) -> Result<Vec<Sla>>;
    /// Creates or replaces an SLA; the profiles that use it are marked changed.
    fn upsert_sla(&mut self, actor: &str, sla: &Sla) -> Result<()>;
    /// Deletes an SLA no profile uses; false when there was none.
    fn delete_sla(&mut self, actor: &str, name: &str) -> Result<bool>;

    /// The CN → GW table (Fig. 8), by CN.
    fn cn_gw_table(&mut self) -> Result<Vec<CnGwEntry>>;
    /// Creates or replaces the row of `e.cn`.
    fn upsert_cn_gw(&mut self, actor: &str, e: &CnGwEntry) -> Result<()>;
    /// Deletes the row of `cn`; false when there was none.
    fn delete_cn_gw(&mut self, actor: &str, cn: &AddrMask) -> Result<bool>;

    /// Audit records with an id above `after_id`, oldest first, at most `limit`.
    fn audit(&mut self, after_id: i64, limit: u32) -> Result<Vec<AuditRecord>>;
    /// Audit records of one target (e.g. `profile 7`), oldest first, at most `limit`.
    fn audit_of(&mut self, target: &str, limit: u32) -> Result<Vec<AuditRecord>>;

    /// Writes a whole document (SLAs, then the CN → GW table, then profiles) in one
    /// transaction: all of it or nothing.
    fn import(&mut self, actor: &str, doc: &VpnDocument) -> Result<ImportCounts>;
    /// The whole database as a document.
    fn export(&mut self) -> Result<VpnDocument>;

    /// Sets (creates or replaces) the web-page login of `nai`: `phc` is an argon2id hash in
    /// PHC form (anything else is refused: the store never holds a password in clear).
    /// Audited (`set_password`, target `login <nai>`, no detail: never the hash).
    fn set_password(&mut self, actor: &str, nai: &Nai, phc: &str) -> Result<()>;
    /// The stored argon2id PHC hash of `nai`'s login, for the page to verify a password
    /// against; None when the user has no login.
    fn password_hash(&mut self, nai: &Nai) -> Result<Option<String>>;
    /// Removes `nai`'s login; false when there was none. Audited.
    fn delete_password(&mut self, actor: &str, nai: &Nai) -> Result<bool>;

    /// Records (creates or replaces) one current tunnel: the row of (`session_id`,
    /// `profile_number`). Rows whose `expires_at` has passed are removed in the same
    /// transaction. Not audited: tunnels are the AAAH's running state, not a change of the
    /// database's configuration.
    fn record_session(&mut self, s: &VpnSession) -> Result<()>;
    /// Ends a session: removes all its tunnels; returns how many there were.
    fn end_session(&mut self, session_id: &str) -> Result<u64>;
    /// Applies `changes` in order in ONE transaction (one commit, one disk flush for the
    /// batch), purging expired rows once first. A `Record` that fails validation is skipped
    /// and counted (`invalid`); a database error rolls the whole batch back and is returned.
    /// Not audited, like `record_session`.
    fn apply_session_changes(&mut self, changes: &[SessionChange]) -> Result<SessionChangeCounts>;
    /// The current (not expired) tunnels of a user, by profile number then session id.
    fn sessions_of_nai(&mut self, nai: &Nai) -> Result<Vec<VpnSession>>;
    /// The current (not expired) tunnels of one profile, by session id.
    fn sessions_of_profile(&mut self, number: u32) -> Result<Vec<VpnSession>>;
}

/// A value bound to or read from SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// NULL (bound as a NULL int8 on PostgreSQL: only integer columns are nullable).
    Null,
    /// An integer (int8 on PostgreSQL).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (BYTEA).
    Blob(Vec<u8>),
}

/// The SQL primitives a [`Store`] runs on; implemented by the SQLite and PostgreSQL backends.
pub trait Backend: Send {
    /// `sqlite` or `postgres`.
    const NAME: &'static str;
    /// Runs a statement with `?` placeholders; returns the rows changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64>;
    /// Runs a query with `?` placeholders; returns its rows.
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Vec<Val>>>;
    /// Opens a write transaction.
    fn begin(&mut self) -> Result<()>;
    /// Commits it.
    fn commit(&mut self) -> Result<()>;
    /// Rolls it back (errors ignored: the connection may be gone).
    fn rollback(&mut self);
    /// The schema version reached.
    fn schema_version(&mut self) -> Result<i64>;
    /// Applies `migrations` (number, name, SQL) above the current version, safely against
    /// other processes doing the same; returns the versions applied.
    fn migrate(&mut self, migrations: &[Migration]) -> Result<Vec<i64>>;
}

/// One schema migration: `migrations/NNN_name.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// NNN.
    pub version: i64,
    /// name.
    pub name: &'static str,
    /// The SQL (several statements).
    pub sql: &'static str,
}

/// The migrations, in order; the same files for both backends.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/001_init.sql"),
    },
    Migration {
        version: 2,
        name: "audit_target",
        sql: include_str!("../migrations/002_audit_target.sql"),
    },
    Migration {
        version: 3,
        name: "portal",
        sql: include_str!("../migrations/003_portal.sql"),
    },
];

/// The newest schema version this program knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// How many times a transaction that failed with a retryable error is run in all.
const TX_ATTEMPTS: u32 = 5;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An audit record waiting for the end of its transaction.
struct PendingAudit {
    actor: String,
    action: &'static str,
    target: String,
    detail: String,
}

/// The one [`VpnStore`] implementation, over a SQL backend.
pub struct Store<B: Backend> {
    b: B,
    pending: Vec<PendingAudit>,
}

impl<B: Backend> Store<B> {
    /// Wraps a connected backend and applies the migrations.
    pub fn new(b: B) -> Result<Self> {
        let mut s = Store {
            b,
            pending: Vec::new(),
        };
        s.migrate()?;
        Ok(s)
    }

    /// The backend (for tests and tools).
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.b
    }

    /// Runs `f` in a transaction, writes the audit records it queued, commits; rolls back on
    /// error and runs it again on a retryable one.
    fn tx<R>(&mut self, mut f: impl FnMut(&mut Self) -> Result<R>) -> Result<R> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pending.clear();
            let r = self.b.begin().and_then(|()| {
                let r = f(self)?;
                self.flush_audit()?;
                self.b.commit()?;
                Ok(r)
            });
            match r {
                Ok(r) => return Ok(r),
                Err(e) => {
                    self.b.rollback();
                    self.pending.clear();
                    let retry = matches!(
                        e,
                        StoreError::Backend {
                            retryable: true,
                            ..
                        }
                    );
                    if !retry || attempt >= TX_ATTEMPTS {
                        return Err(e);
                    }
                }
            }
        }
    }

    fn note(&mut self, actor: &str, action: &'static str, target: String, detail: String) {
        self.pending.push(PendingAudit {
            actor: actor.to_owned(),
            action,
            target,
            detail,
        });
    }

    /// Writes the queued audit records; the counter row is the last lock a transaction takes.
    fn flush_audit(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let at = now();
        for a in pending {
            let rows = self.b.query(
                "UPDATE vpn_counter SET value = value + 1 WHERE name = 'audit' RETURNING value",
                &[],
            )?;
            let id = match rows.first().and_then(|r| r.first()) {
                Some(Val::Int(v)) => *v,
                _ => {
                    return Err(StoreError::Corrupt {
                        table: "vpn_counter",
                        why: "no 'audit' row".into(),
                    })
                }
            };
            self.b.exec(
                "INSERT INTO vpn_audit (id, at, actor, action, target, detail) \
                 VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    Val::Int(id),
                    Val::Int(at),
                    Val::Text(a.actor),
                    Val::Text(a.action.into()),
                    Val::Text(a.target),
                    Val::Text(a.detail),
                ],
            )?;
        }
        Ok(())
    }

    /// Raises a profile's version and sets its mark; locks its row until commit. With
    /// `owner`, only that user's profile. None when there is no such profile.
    fn touch_profile(&mut self, number: u32, owner: Option<&Nai>) -> Result<Option<i64>> {
        let mut params = vec![Val::Int(now()), Val::Int(number as i64)];
        let mut sql = String::from(
            "UPDATE vpn_profile SET version = version + 1, changed_at = ?, service_update = 1 \
             WHERE profile_number = ?",
        );
        if let Some(o) = owner {
            sql.push_str(" AND nai = ?");
            params.push(Val::Text(o.as_str().into()));
        }
        sql.push_str(" RETURNING version");
        let rows = self.b.query(&sql, &params)?;
        Ok(rows.first().map(|r| int(&r[0])))
    }

    /// Clears the service-update marks of a user's profiles and reads them, each with its
    /// mark as it was (inside a transaction). Clearing first, under the row locks: a change
    /// committed after this keeps its mark for the next registration.
    fn clear_marks(&mut self, nai: &Val) -> Result<Vec<StoredProfile>> {
        let marked: Vec<i64> = self
            .b
            .query(
                "UPDATE vpn_profile SET service_update = 0 \
                 WHERE nai = ? AND service_update = 1 RETURNING profile_number",
                std::slice::from_ref(nai),
            )?
            .iter()
            .map(|r| int(&r[0]))
            .collect();
        let mut ps = self.read_profiles("WHERE nai = ?", std::slice::from_ref(nai))?;
        for p in &mut ps {
            p.service_update = marked.contains(&(p.profile.profile_number as i64));
        }
        Ok(ps)
    }

    fn not_found(number: u32) -> StoreError {
        StoreError::NotFound(format!("profile {number}"))
    }

    fn write_dests(&mut self, number: u32, dests: &[AddrMask]) -> Result<()> {
        self.b.exec(
            "DELETE FROM vpn_profile_dest WHERE profile_number = ?",
            &[Val::Int(number as i64)],
        )?;
        for (i, d) in dests.iter().enumerate() {
            self.b.exec(
                "INSERT INTO vpn_profile_dest (profile_number, position, addr, mask) \
                 VALUES (?, ?, ?, ?)",
                &[
                    Val::Int(number as i64),
                    Val::Int(i as i64),
                    Val::Text(d.addr().to_string()),
                    Val::Text(d.mask().to_string()),
                ],
            )?;
        }
        Ok(())
    }

    /// The destinations of the profiles matching `where_` (a condition on `vpn_profile`), by
    /// profile and position.
    fn read_dests(&mut self, where_: &str, params: &[Val]) -> Result<Vec<(u32, AddrMask)>> {
        let sql = format!(
            "SELECT profile_number, addr, mask FROM vpn_profile_dest \
             WHERE profile_number IN (SELECT profile_number FROM vpn_profile {where_}) \
             ORDER BY profile_number, position"
        );
        let rows = self.b.query(&sql, params)?;
        rows.iter()
            .map(|r| {
                Ok((
                    u32_of(&r[0], "vpn_profile_dest")?,
                    addr_mask(&r[1], &r[2], "vpn_profile_dest")?,
                ))
            })
            .collect()
    }

    /// The destinations of one profile.
    fn dests_of(&mut self, number: u32) -> Result<Vec<AddrMask>> {
        Ok(self
            .read_dests("WHERE profile_number = ?", &[Val::Int(number as i64)])?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    /// Profiles matching `where_` (a condition on `vpn_profile`), with their destinations.
    fn read_profiles(&mut self, where_: &str, params: &[Val]) -> Result<Vec<StoredProfile>> {
        let sql = format!(
            "SELECT profile_number, nai, sla, vpnshare, up_class, down_class, up_spi, down_spi, \
             version, changed_at, service_update FROM vpn_profile {where_} ORDER BY profile_number"
        );
        let rows = self.b.query(&sql, params)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(profile_row(r)?);
        }
        if out.is_empty() {
            return Ok(out);
        }
        for (n, d) in self.read_dests(where_, params)? {
            if let Ok(i) = out.binary_search_by_key(&n, |p| p.profile.profile_number) {
                out[i].profile.destinations.push(d);
            }
        }
        Ok(out)
    }

    fn read_one(&mut self, number: u32) -> Result<StoredProfile> {
        self.read_profiles("WHERE profile_number = ?", &[Val::Int(number as i64)])?
            .pop()
            .ok_or_else(|| Self::not_found(number))
    }

    fn sla_exists(&mut self, name: &str) -> Result<bool> {
        Ok(!self
            .b
            .query(
                "SELECT 1 FROM vpn_sla WHERE name = ?",
                &[Val::Text(name.into())],
            )?
            .is_empty())
    }

    fn write_profile(&mut self, actor: &str, p: &VpnProfile) -> Result<i64> {
        p.validate()?;
        if !self.sla_exists(&p.sla)? {
            return Err(StoreError::Conflict(format!(
                "profile {} names SLA {:?}, which is not in the database",
                p.profile_number, p.sla
            )));
        }
        // Fig. 4: the SLA lists the users who may use the VPN (an empty list: anyone).
        let users = self.b.query(
            "SELECT nai FROM vpn_sla_user WHERE sla = ?",
            &[Val::Text(p.sla.clone())],
        )?;
        if !users.is_empty()
            && !users
                .iter()
                .any(|r| matches!(&r[0], Val::Text(n) if n == p.nai.as_str()))
        {
            return Err(StoreError::Conflict(format!(
                "profile {}: {} is not a user of SLA {:?}",
                p.profile_number, p.nai, p.sla
            )));
        }
        let opt = |v: Option<u32>| v.map(|x| Val::Int(x as i64)).unwrap_or(Val::Null);
        let opt8 = |v: Option<u8>| v.map(|x| Val::Int(x as i64)).unwrap_or(Val::Null);
        let rows = self.b.query(
            "INSERT INTO vpn_profile (profile_number, nai, sla, vpnshare, up_class, down_class, \
             up_spi, down_spi, version, changed_at, service_update) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 1) \
             ON CONFLICT (profile_number) DO UPDATE SET nai = excluded.nai, sla = excluded.sla, \
             vpnshare = excluded.vpnshare, up_class = excluded.up_class, \
             down_class = excluded.down_class, up_spi = excluded.up_spi, \
             down_spi = excluded.down_spi, version = vpn_profile.version + 1, \
             changed_at = excluded.changed_at, service_update = 1 \
             RETURNING version",
            &[
                Val::Int(p.profile_number as i64),
                Val::Text(p.nai.as_str().into()),
                Val::Text(p.sla.clone()),
                Val::Int(p.vpnshare.as_i64()),
                opt8(p.up_class),
                opt8(p.down_class),
                opt(p.up_spi),
                opt(p.down_spi),
                Val::Int(now()),
            ],
        )?;
        let version = rows.first().map(|r| int(&r[0])).unwrap_or(0);
        self.write_dests(p.profile_number, &p.destinations)?;
        self.note(
            actor,
            "upsert_profile",
            format!("profile {}", p.profile_number),
            format!(
                "nai={} sla={} destinations={} version={version}",
                p.nai,
                p.sla,
                join(&p.destinations)
            ),
        );
        Ok(version)
    }

    fn write_sla(&mut self, actor: &str, s: &Sla) -> Result<()> {
        s.validate()?;
        if !s.users.is_empty() {
            // A user with a profile on this SLA cannot be dropped from its list.
            let rows = self.b.query(
                "SELECT profile_number, nai FROM vpn_profile WHERE sla = ? ORDER BY profile_number",
                &[Val::Text(s.name.clone())],
            )?;
            for r in &rows {
                let nai = text(&r[1], "vpn_profile")?;
                if !s.users.iter().any(|u| u.as_str() == nai) {
                    return Err(StoreError::Conflict(format!(
                        "SLA {:?} would drop user {nai}, who has profile {}",
                        s.name,
                        int(&r[0])
                    )));
                }
            }
        }
        self.b.exec(
            "INSERT INTO vpn_sla (name, up_spi, down_spi, up_enc_key, down_enc_key, up_auth_key, \
             down_auth_key, up_tos, down_tos, security, changed_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET up_spi = excluded.up_spi, \
             down_spi = excluded.down_spi, up_enc_key = excluded.up_enc_key, \
             down_enc_key = excluded.down_enc_key, up_auth_key = excluded.up_auth_key, \
             down_auth_key = excluded.down_auth_key, up_tos = excluded.up_tos, \
             down_tos = excluded.down_tos, security = excluded.security, \
             changed_at = excluded.changed_at",
            &[
                Val::Text(s.name.clone()),
                Val::Int(s.up_spi as i64),
                Val::Int(s.down_spi as i64),
                Val::Blob(s.keys.up_enc.as_bytes().to_vec()),
                Val::Blob(s.keys.down_enc.as_bytes().to_vec()),
                Val::Blob(s.keys.up_auth.as_bytes().to_vec()),
                Val::Blob(s.keys.down_auth.as_bytes().to_vec()),
                Val::Int(s.qos.up_tos as i64),
                Val::Int(s.qos.down_tos as i64),
                Val::Text(s.security.as_str().into()),
                Val::Int(now()),
            ],
        )?;
        let name = Val::Text(s.name.clone());
        self.b.exec(
            "DELETE FROM vpn_sla_domain WHERE sla = ?",
            std::slice::from_ref(&name),
        )?;
        for (i, d) in s.domain.iter().enumerate() {
            self.b.exec(
                "INSERT INTO vpn_sla_domain (sla, position, addr, mask) VALUES (?, ?, ?, ?)",
                &[
                    name.clone(),
                    Val::Int(i as i64),
                    Val::Text(d.addr().to_string()),
                    Val::Text(d.mask().to_string()),
                ],
            )?;
        }
        self.b.exec(
            "DELETE FROM vpn_sla_user WHERE sla = ?",
            std::slice::from_ref(&name),
        )?;
        for (i, u) in s.users.iter().enumerate() {
            self.b.exec(
                "INSERT INTO vpn_sla_user (sla, position, nai) VALUES (?, ?, ?)",
                &[
                    name.clone(),
                    Val::Int(i as i64),
                    Val::Text(u.as_str().into()),
                ],
            )?;
        }
        // The profiles of this SLA must be re-read at their next registration.
        let touched = self.b.exec(
            "UPDATE vpn_profile SET version = version + 1, changed_at = ?, service_update = 1 \
             WHERE sla = ?",
            &[Val::Int(now()), name],
        )?;
        self.note(
            actor,
            "upsert_sla",
            format!("sla {}", s.name),
            format!(
                "spi={}/{} security={} users={} profiles_marked={touched}",
                s.up_spi,
                s.down_spi,
                s.security.as_str(),
                s.users.len()
            ),
        );
        Ok(())
    }

    fn write_cn_gw(&mut self, actor: &str, e: &CnGwEntry) -> Result<()> {
        self.b.exec(
            "INSERT INTO vpn_cn_gw (cn_addr, cn_mask, gw, gw_type, changed_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (cn_addr, cn_mask) DO UPDATE SET gw = excluded.gw, \
             gw_type = excluded.gw_type, changed_at = excluded.changed_at",
            &[
                Val::Text(e.cn.addr().to_string()),
                Val::Text(e.cn.mask().to_string()),
                Val::Text(e.gw.to_string()),
                Val::Text(e.gw_type.as_str().into()),
                Val::Int(now()),
            ],
        )?;
        self.note(
            actor,
            "upsert_cn_gw",
            format!("cn {}", e.cn),
            format!("gw={} type={}", e.gw, e.gw_type.as_str()),
        );
        Ok(())
    }

    /// The SLAs matching `where_` (a condition on `vpn_sla`) with their domains and users,
    /// by name: three queries whatever their number.
    fn read_slas(&mut self, where_: &str, params: &[Val]) -> Result<Vec<Sla>> {
        let rows = self.b.query(
            &format!(
                "SELECT name, up_spi, down_spi, up_enc_key, down_enc_key, up_auth_key, \
                 down_auth_key, up_tos, down_tos, security FROM vpn_sla {where_} ORDER BY name"
            ),
            params,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let t = "vpn_sla";
            let security: SecurityType = text(&r[9], t)?
                .parse()
                .map_err(|e: ModelError| corrupt(t, e))?;
            out.push(Sla {
                name: text(&r[0], t)?.to_owned(),
                up_spi: u32_of(&r[1], t)?,
                down_spi: u32_of(&r[2], t)?,
                keys: SaKeys {
                    up_enc: blob(&r[3], t)?,
                    down_enc: blob(&r[4], t)?,
                    up_auth: blob(&r[5], t)?,
                    down_auth: blob(&r[6], t)?,
                },
                qos: Qos {
                    up_tos: u8_of(&r[7], t)?,
                    down_tos: u8_of(&r[8], t)?,
                },
                security,
                domain: Vec::new(),
                users: Vec::new(),
            });
        }
        if out.is_empty() {
            return Ok(out);
        }
        // Byte order, whatever the database's collation (PostgreSQL's may differ), for the
        // searches below and the same order on both backends.
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let t = "vpn_sla_domain";
        for r in self.b.query(
            &format!(
                "SELECT sla, addr, mask FROM vpn_sla_domain \
                 WHERE sla IN (SELECT name FROM vpn_sla {where_}) ORDER BY sla, position"
            ),
            params,
        )? {
            let d = addr_mask(&r[1], &r[2], t)?;
            let name = text(&r[0], t)?;
            if let Ok(i) = out.binary_search_by(|x| x.name.as_str().cmp(name)) {
                out[i].domain.push(d);
            }
        }
        let t = "vpn_sla_user";
        for r in self.b.query(
            &format!(
                "SELECT sla, nai FROM vpn_sla_user \
                 WHERE sla IN (SELECT name FROM vpn_sla {where_}) ORDER BY sla, position"
            ),
            params,
        )? {
            let u = Nai::parse(text(&r[1], t)?).map_err(|e| corrupt(t, e))?;
            let name = text(&r[0], t)?;
            if let Ok(i) = out.binary_search_by(|x| x.name.as_str().cmp(name)) {
                out[i].users.push(u);
            }
        }
        Ok(out)
    }

    /// The current tunnels matching `cond` (one condition with one parameter), in `order`.
    fn purge_expired_sessions(&mut self) -> Result<u64> {
        self.b.exec(
            "DELETE FROM vpn_session WHERE expires_at <= ?",
            &[Val::Int(now())],
        )
    }

    /// Creates or replaces a (validated) tunnel row, inside a transaction.
    fn write_session(&mut self, v: &VpnSession) -> Result<()> {
        self.b.exec(
            "INSERT INTO vpn_session (session_id, nai, profile_number, fa, ha, src_gw, \
             dst_gw, gw_type, up_spi, down_spi, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (session_id, profile_number) DO UPDATE SET nai = excluded.nai, \
             fa = excluded.fa, ha = excluded.ha, src_gw = excluded.src_gw, \
             dst_gw = excluded.dst_gw, gw_type = excluded.gw_type, \
             up_spi = excluded.up_spi, down_spi = excluded.down_spi, \
             created_at = excluded.created_at, expires_at = excluded.expires_at",
            &[
                Val::Text(v.session_id.clone()),
                Val::Text(v.nai.as_str().into()),
                Val::Int(v.profile_number as i64),
                Val::Text(v.fa.to_string()),
                Val::Text(v.ha.to_string()),
                Val::Text(v.src_gw.to_string()),
                Val::Text(v.dst_gw.to_string()),
                Val::Text(v.gw_type.as_str().into()),
                Val::Int(v.up_spi as i64),
                Val::Int(v.down_spi as i64),
                Val::Int(v.created_at),
                Val::Int(v.expires_at),
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, session_id: &str) -> Result<u64> {
        self.b.exec(
            "DELETE FROM vpn_session WHERE session_id = ?",
            &[Val::Text(session_id.into())],
        )
    }

    fn read_sessions(&mut self, cond: &str, param: Val, order: &str) -> Result<Vec<VpnSession>> {
        let rows = self.b.query(
            &format!(
                "SELECT session_id, nai, profile_number, fa, ha, src_gw, dst_gw, gw_type, \
                 up_spi, down_spi, created_at, expires_at FROM vpn_session \
                 WHERE {cond} AND expires_at > ? ORDER BY {order}"
            ),
            &[param, Val::Int(now())],
        )?;
        let t = "vpn_session";
        let ip = |v: &Val| -> Result<Ipv4Addr> { text(v, t)?.parse().map_err(|e| corrupt(t, e)) };
        rows.iter()
            .map(|r| {
                Ok(VpnSession {
                    session_id: text(&r[0], t)?.to_owned(),
                    nai: Nai::parse(text(&r[1], t)?).map_err(|e| corrupt(t, e))?,
                    profile_number: u32_of(&r[2], t)?,
                    fa: ip(&r[3])?,
                    ha: ip(&r[4])?,
                    src_gw: ip(&r[5])?,
                    dst_gw: ip(&r[6])?,
                    gw_type: text(&r[7], t)?.parse().map_err(|e| corrupt(t, e))?,
                    up_spi: u32_of(&r[8], t)?,
                    down_spi: u32_of(&r[9], t)?,
                    created_at: int(&r[10]),
                    expires_at: int(&r[11]),
                })
            })
            .collect()
    }

    fn read_audit(&mut self, where_: &str, params: &[Val], limit: u32) -> Result<Vec<AuditRecord>> {
        let mut p = params.to_vec();
        p.push(Val::Int(limit as i64));
        let rows = self.b.query(
            &format!(
                "SELECT id, at, actor, action, target, detail FROM vpn_audit {where_} \
                 ORDER BY id LIMIT ?"
            ),
            &p,
        )?;
        let t = "vpn_audit";
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: int(&r[0]),
                    at: int(&r[1]),
                    actor: text(&r[2], t)?.to_owned(),
                    action: text(&r[3], t)?.to_owned(),
                    target: text(&r[4], t)?.to_owned(),
                    detail: text(&r[5], t)?.to_owned(),
                })
            })
            .collect()
    }
}

impl<B: Backend> VpnStore for Store<B> {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    fn schema_version(&mut self) -> Result<i64> {
        self.b.schema_version()
    }

    fn migrate(&mut self) -> Result<Vec<i64>> {
        self.b.migrate(MIGRATIONS)
    }

    fn profiles_by_nai(&mut self, nai: &Nai) -> Result<Vec<StoredProfile>> {
        self.read_profiles("WHERE nai = ?", &[Val::Text(nai.as_str().into())])
    }

    fn profiles_for_registration(&mut self, nai: &Nai) -> Result<Vec<StoredProfile>> {
        let nai = Val::Text(nai.as_str().into());
        self.tx(|s| s.clear_marks(&nai))
    }

    fn user_vpn(&mut self, nai: &Nai, registration: bool) -> Result<Option<UserVpn>> {
        let n = Val::Text(nai.as_str().into());
        self.tx(|s| {
            let profiles = if registration {
                s.clear_marks(&n)?
            } else {
                s.read_profiles("WHERE nai = ?", std::slice::from_ref(&n))?
            };
            if profiles.is_empty() {
                return Ok(None);
            }
            let slas = s.read_slas(
                "WHERE name IN (SELECT sla FROM vpn_profile WHERE nai = ?)",
                std::slice::from_ref(&n),
            )?;
            let table = s.cn_gw_table()?;
            let mut cn_gw: Vec<CnGwEntry> = Vec::new();
            for d in profiles.iter().flat_map(|p| &p.profile.destinations) {
                if let Some(e) = lookup_cn_gw(&table, d) {
                    if !cn_gw.contains(e) {
                        cn_gw.push(*e);
                    }
                }
            }
            cn_gw.sort_by_key(|e| e.cn);
            Ok(Some(UserVpn {
                nai: nai.clone(),
                profiles,
                slas,
                cn_gw,
            }))
        })
    }

    fn get_profile(&mut self, number: u32) -> Result<Option<StoredProfile>> {
        Ok(self
            .read_profiles("WHERE profile_number = ?", &[Val::Int(number as i64)])?
            .pop())
    }

    fn list_profiles(&mut self) -> Result<Vec<StoredProfile>> {
        self.read_profiles("", &[])
    }

    fn upsert_profile(&mut self, actor: &str, p: &VpnProfile) -> Result<StoredProfile> {
        p.validate()?;
        self.tx(|s| {
            s.write_profile(actor, p)?;
            s.read_one(p.profile_number)
        })
    }

    fn delete_profile(&mut self, actor: &str, number: u32) -> Result<bool> {
        self.tx(|s| {
            let n = s.b.exec(
                "DELETE FROM vpn_profile WHERE profile_number = ?",
                &[Val::Int(number as i64)],
            )?;
            if n > 0 {
                s.note(
                    actor,
                    "delete_profile",
                    format!("profile {number}"),
                    String::new(),
                );
            }
            Ok(n > 0)
        })
    }

    fn set_destinations(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dests: &[AddrMask],
    ) -> Result<StoredProfile> {
        if dests.is_empty() {
            return Err(ModelError::Invalid {
                field: format!("profile {number} destinations"),
                why: "a VPN needs at least one destination".into(),
            }
            .into());
        }
        for (i, d) in dests.iter().enumerate() {
            if dests[..i].contains(d) {
                return Err(ModelError::Invalid {
                    field: format!("profile {number} destinations"),
                    why: format!("{d} is listed twice"),
                }
                .into());
            }
        }
        self.tx(|s| {
            let v = s
                .touch_profile(number, owner)?
                .ok_or_else(|| Self::not_found(number))?;
            s.write_dests(number, dests)?;
            s.note(
                actor,
                "set_destinations",
                format!("profile {number}"),
                format!("destinations={} version={v}", join(dests)),
            );
            s.read_one(number)
        })
    }

    fn add_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dest: AddrMask,
    ) -> Result<StoredProfile> {
        self.tx(|s| {
            let v = s
                .touch_profile(number, owner)?
                .ok_or_else(|| Self::not_found(number))?;
            let mut dests = s.dests_of(number)?;
            if dests.contains(&dest) {
                return Err(StoreError::Conflict(format!(
                    "profile {number} already has destination {dest}"
                )));
            }
            dests.push(dest);
            s.b.exec(
                "INSERT INTO vpn_profile_dest (profile_number, position, addr, mask) \
                 VALUES (?, (SELECT COALESCE(MAX(position), -1) + 1 FROM vpn_profile_dest \
                 WHERE profile_number = ?), ?, ?)",
                &[
                    Val::Int(number as i64),
                    Val::Int(number as i64),
                    Val::Text(dest.addr().to_string()),
                    Val::Text(dest.mask().to_string()),
                ],
            )?;
            s.note(
                actor,
                "add_destination",
                format!("profile {number}"),
                format!("added={dest} destinations={} version={v}", dests.len()),
            );
            s.read_one(number)
        })
    }

    fn remove_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        dest: AddrMask,
    ) -> Result<StoredProfile> {
        self.tx(|s| {
            let v = s
                .touch_profile(number, owner)?
                .ok_or_else(|| Self::not_found(number))?;
            let mut dests = s.dests_of(number)?;
            let before = dests.len();
            dests.retain(|d| *d != dest);
            if dests.len() == before {
                return Err(StoreError::NotFound(format!(
                    "destination {dest} of profile {number}"
                )));
            }
            if dests.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "{dest} is the last destination of profile {number}; a VPN needs one"
                )));
            }
            s.write_dests(number, &dests)?;
            s.note(
                actor,
                "remove_destination",
                format!("profile {number}"),
                format!("removed={dest} destinations={} version={v}", dests.len()),
            );
            s.read_one(number)
        })
    }

    fn replace_destination(
        &mut self,
        actor: &str,
        number: u32,
        owner: Option<&Nai>,
        old: AddrMask,
        new: AddrMask,
    ) -> Result<StoredProfile> {
        self.tx(|s| {
            let v = s
                .touch_profile(number, owner)?
                .ok_or_else(|| Self::not_found(number))?;
            let mut dests = s.dests_of(number)?;
            let Some(i) = dests.iter().position(|d| *d == old) else {
                return Err(StoreError::NotFound(format!(
                    "destination {old} of profile {number}"
                )));
            };
            if old != new && dests.contains(&new) {
                return Err(StoreError::Conflict(format!(
                    "profile {number} already has destination {new}"
                )));
            }
            dests[i] = new;
            s.write_dests(number, &dests)?;
            s.note(
                actor,
                "replace_destination",
                format!("profile {number}"),
                format!("replaced={old} by={new} version={v}"),
            );
            s.read_one(number)
        })
    }

    fn mark_changed(&mut self, actor: &str, number: u32) -> Result<StoredProfile> {
        self.tx(|s| {
            let v = s
                .touch_profile(number, None)?
                .ok_or_else(|| Self::not_found(number))?;
            s.note(
                actor,
                "mark_changed",
                format!("profile {number}"),
                format!("version={v}"),
            );
            s.read_one(number)
        })
    }

    fn get_sla(&mut self, name: &str) -> Result<Option<Sla>> {
        Ok(self
            .read_slas("WHERE name = ?", &[Val::Text(name.into())])?
            .pop())
    }

    fn list_slas(&mut self) -> Result<Vec<Sla>> {
        self.read_slas("", &[])
    }

    fn upsert_sla(&mut self, actor: &str, sla: &Sla) -> Result<()> {
        sla.validate()?;
        self.tx(|s| s.write_sla(actor, sla))
    }

    fn delete_sla(&mut self, actor: &str, name: &str) -> Result<bool> {
        self.tx(|s| {
            let used = s.b.query(
                "SELECT COUNT(*) FROM vpn_profile WHERE sla = ?",
                &[Val::Text(name.into())],
            )?;
            let used = used.first().map(|r| int(&r[0])).unwrap_or(0);
            if used > 0 {
                return Err(StoreError::Conflict(format!(
                    "SLA {name:?} is used by {used} profile(s)"
                )));
            }
            let n = s.b.exec(
                "DELETE FROM vpn_sla WHERE name = ?",
                &[Val::Text(name.into())],
            )?;
            if n > 0 {
                s.note(actor, "delete_sla", format!("sla {name}"), String::new());
            }
            Ok(n > 0)
        })
    }

    fn cn_gw_table(&mut self) -> Result<Vec<CnGwEntry>> {
        let rows = self.b.query(
            "SELECT cn_addr, cn_mask, gw, gw_type FROM vpn_cn_gw ORDER BY cn_addr, cn_mask",
            &[],
        )?;
        let t = "vpn_cn_gw";
        let mut out: Vec<CnGwEntry> = rows
            .iter()
            .map(|r| {
                Ok(CnGwEntry {
                    cn: addr_mask(&r[0], &r[1], t)?,
                    gw: text(&r[2], t)?
                        .parse::<Ipv4Addr>()
                        .map_err(|e| corrupt(t, e))?,
                    gw_type: text(&r[3], t)?
                        .parse::<GwType>()
                        .map_err(|e| corrupt(t, e))?,
                })
            })
            .collect::<Result<_>>()?;
        // Text order is not address order.
        out.sort_by_key(|e| e.cn);
        Ok(out)
    }

    fn upsert_cn_gw(&mut self, actor: &str, e: &CnGwEntry) -> Result<()> {
        self.tx(|s| s.write_cn_gw(actor, e))
    }

    fn delete_cn_gw(&mut self, actor: &str, cn: &AddrMask) -> Result<bool> {
        self.tx(|s| {
            let n = s.b.exec(
                "DELETE FROM vpn_cn_gw WHERE cn_addr = ? AND cn_mask = ?",
                &[
                    Val::Text(cn.addr().to_string()),
                    Val::Text(cn.mask().to_string()),
                ],
            )?;
            if n > 0 {
                s.note(actor, "delete_cn_gw", format!("cn {cn}"), String::new());
            }
            Ok(n > 0)
        })
    }

    fn audit(&mut self, after_id: i64, limit: u32) -> Result<Vec<AuditRecord>> {
        self.read_audit("WHERE id > ?", &[Val::Int(after_id)], limit)
    }

    fn audit_of(&mut self, target: &str, limit: u32) -> Result<Vec<AuditRecord>> {
        self.read_audit("WHERE target = ?", &[Val::Text(target.into())], limit)
    }

    fn import(&mut self, actor: &str, doc: &VpnDocument) -> Result<ImportCounts> {
        doc.validate_entries()?;
        let mut profiles: Vec<&VpnProfile> = doc.profiles.iter().collect();
        // Ascending numbers: the same lock order as every other writer.
        profiles.sort_by_key(|p| p.profile_number);
        self.tx(|s| {
            for sla in &doc.slas {
                s.write_sla(actor, sla)?;
            }
            for e in &doc.cn_gw {
                s.write_cn_gw(actor, e)?;
            }
            for p in &profiles {
                s.write_profile(actor, p)?;
            }
            Ok(ImportCounts {
                slas: doc.slas.len(),
                cn_gw: doc.cn_gw.len(),
                profiles: profiles.len(),
            })
        })
    }

    fn export(&mut self) -> Result<VpnDocument> {
        Ok(VpnDocument {
            slas: self.list_slas()?,
            cn_gw: self.cn_gw_table()?,
            profiles: self
                .list_profiles()?
                .into_iter()
                .map(|p| p.profile)
                .collect(),
        })
    }

    fn set_password(&mut self, actor: &str, nai: &Nai, phc: &str) -> Result<()> {
        if !crate::model::is_argon2id_phc(phc) {
            return Err(ModelError::Invalid {
                field: format!("login {nai} password_hash"),
                why: "not an argon2id hash in PHC form ($argon2id$v=19$m=...$salt$hash)".into(),
            }
            .into());
        }
        self.tx(|s| {
            s.b.exec(
                "INSERT INTO vpn_login (nai, password_hash, changed_at) VALUES (?, ?, ?) \
                 ON CONFLICT (nai) DO UPDATE SET password_hash = excluded.password_hash, \
                 changed_at = excluded.changed_at",
                &[
                    Val::Text(nai.as_str().into()),
                    Val::Text(phc.into()),
                    Val::Int(now()),
                ],
            )?;
            s.note(actor, "set_password", format!("login {nai}"), String::new());
            Ok(())
        })
    }

    fn password_hash(&mut self, nai: &Nai) -> Result<Option<String>> {
        let rows = self.b.query(
            "SELECT password_hash FROM vpn_login WHERE nai = ?",
            &[Val::Text(nai.as_str().into())],
        )?;
        match rows.first() {
            None => Ok(None),
            Some(r) => Ok(Some(text(&r[0], "vpn_login")?.to_owned())),
        }
    }

    fn delete_password(&mut self, actor: &str, nai: &Nai) -> Result<bool> {
        self.tx(|s| {
            let n = s.b.exec(
                "DELETE FROM vpn_login WHERE nai = ?",
                &[Val::Text(nai.as_str().into())],
            )?;
            if n > 0 {
                s.note(
                    actor,
                    "delete_password",
                    format!("login {nai}"),
                    String::new(),
                );
            }
            Ok(n > 0)
        })
    }

    fn record_session(&mut self, v: &VpnSession) -> Result<()> {
        v.validate()?;
        self.tx(|s| {
            s.purge_expired_sessions()?;
            s.write_session(v)
        })
    }

    fn end_session(&mut self, session_id: &str) -> Result<u64> {
        self.tx(|s| s.delete_session(session_id))
    }

    fn apply_session_changes(&mut self, changes: &[SessionChange]) -> Result<SessionChangeCounts> {
        let valid: Vec<bool> = changes
            .iter()
            .map(|c| match c {
                SessionChange::Record(v) => v.validate().is_ok(),
                SessionChange::End(_) => true,
            })
            .collect();
        let invalid = valid.iter().filter(|ok| !**ok).count() as u64;
        if invalid == changes.len() as u64 {
            return Ok(SessionChangeCounts {
                invalid,
                ..SessionChangeCounts::default()
            });
        }
        self.tx(|s| {
            let mut n = SessionChangeCounts {
                invalid,
                ..SessionChangeCounts::default()
            };
            s.purge_expired_sessions()?;
            for (c, ok) in changes.iter().zip(&valid) {
                match c {
                    SessionChange::Record(v) if *ok => {
                        s.write_session(v)?;
                        n.recorded += 1;
                    }
                    SessionChange::Record(_) => {}
                    SessionChange::End(id) => {
                        let removed = s.delete_session(id)?;
                        if removed > 0 {
                            n.ended += 1;
                            n.rows_removed += removed;
                        }
                    }
                }
            }
            Ok(n)
        })
    }

    fn sessions_of_nai(&mut self, nai: &Nai) -> Result<Vec<VpnSession>> {
        self.read_sessions(
            "nai = ?",
            Val::Text(nai.as_str().into()),
            "profile_number, session_id",
        )
    }

    fn sessions_of_profile(&mut self, number: u32) -> Result<Vec<VpnSession>> {
        self.read_sessions("profile_number = ?", Val::Int(number as i64), "session_id")
    }
}

fn join(ds: &[AddrMask]) -> String {
    ds.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn corrupt(table: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        why: e.to_string(),
    }
}

fn int(v: &Val) -> i64 {
    match v {
        Val::Int(i) => *i,
        _ => 0,
    }
}

fn opt_int(v: &Val, t: &'static str) -> Result<Option<i64>> {
    match v {
        Val::Null => Ok(None),
        Val::Int(i) => Ok(Some(*i)),
        other => Err(corrupt(t, format!("expected an integer, found {other:?}"))),
    }
}

fn u32_of(v: &Val, t: &'static str) -> Result<u32> {
    let i = opt_int(v, t)?.ok_or_else(|| corrupt(t, "NULL integer"))?;
    u32::try_from(i).map_err(|_| corrupt(t, format!("{i} out of range")))
}

fn u8_of(v: &Val, t: &'static str) -> Result<u8> {
    let i = opt_int(v, t)?.ok_or_else(|| corrupt(t, "NULL integer"))?;
    u8::try_from(i).map_err(|_| corrupt(t, format!("{i} out of range")))
}

fn text<'a>(v: &'a Val, t: &'static str) -> Result<&'a str> {
    match v {
        Val::Text(s) => Ok(s),
        other => Err(corrupt(t, format!("expected text, found {other:?}"))),
    }
}

fn blob(v: &Val, t: &'static str) -> Result<KeyBytes> {
    match v {
        Val::Blob(b) => Ok(KeyBytes::new(b.clone())),
        Val::Null => Ok(KeyBytes::default()),
        _ => Err(corrupt(t, "expected bytes")),
    }
}

fn addr_mask(a: &Val, m: &Val, t: &'static str) -> Result<AddrMask> {
    let addr: Ipv4Addr = text(a, t)?.parse().map_err(|e| corrupt(t, e))?;
    let mask: Ipv4Addr = text(m, t)?.parse().map_err(|e| corrupt(t, e))?;
    AddrMask::new(addr, mask).map_err(|e| corrupt(t, e))
}

fn profile_row(r: &[Val]) -> Result<StoredProfile> {
    let t = "vpn_profile";
    let o32 = |v: &Val| -> Result<Option<u32>> {
        opt_int(v, t)?
            .map(|i| u32::try_from(i).map_err(|_| corrupt(t, format!("{i} out of range"))))
            .transpose()
    };
    let o8 = |v: &Val| -> Result<Option<u8>> {
        opt_int(v, t)?
            .map(|i| u8::try_from(i).map_err(|_| corrupt(t, format!("{i} out of range"))))
            .transpose()
    };
    let vpnshare = VpnShare::from_i64(int(&r[3])).map_err(|e| corrupt(t, e))?;
    Ok(StoredProfile {
        profile: VpnProfile {
            profile_number: u32_of(&r[0], t)?,
            nai: Nai::parse(text(&r[1], t)?).map_err(|e| corrupt(t, e))?,
            sla: text(&r[2], t)?.to_owned(),
            vpnshare,
            destinations: Vec::new(),
            up_class: o8(&r[4])?,
            down_class: o8(&r[5])?,
            up_spi: o32(&r[6])?,
            down_spi: o32(&r[7])?,
        },
        version: int(&r[8]),
        changed_at: int(&r[9]),
        service_update: int(&r[10]) != 0,
    })
}
