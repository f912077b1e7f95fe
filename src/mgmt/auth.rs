//! Principals and their tokens.
//!
//! A principal is a name, a [`Role`] and optionally a tenant. Its token is never stored:
//! the profile holds an argon2id PHC string of it (`varouter hash-token`). Verifying
//! argon2id costs tens of milliseconds by design, so a token once verified is remembered
//! by its SHA-256 together with the PHC string it matched; the entry is only used while
//! that principal still has that hash (deleting a principal or changing its hash revokes
//! the cached token at the next request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use super::scope::{Role, Scope};
use crate::config::PrincipalCfg;

/// Most verified tokens remembered (the cache is cleared when it is full).
const CACHE_MAX: usize = 1024;

/// Someone who may call the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Name (audit log, `GET /api/v1/principals`).
    pub name: String,
    /// Role.
    pub role: Role,
    /// The tenant it is limited to.
    pub tenant: Option<String>,
    /// argon2id PHC string of its token.
    pub token_hash: String,
}

impl Principal {
    /// The VRs it sees: a carrier-admin and an unscoped read-only principal see all, the
    /// others their tenant's.
    pub fn scope(&self) -> Scope {
        match (self.role, &self.tenant) {
            (Role::CarrierAdmin, _) | (_, None) => Scope::All,
            (_, Some(t)) => Scope::Tenant(t.clone()),
        }
    }

    /// From the resolved profile.
    pub fn from_cfg(p: &PrincipalCfg) -> Self {
        Principal {
            name: p.name.clone(),
            role: p.role,
            tenant: p.tenant.clone(),
            token_hash: p.token_hash.clone(),
        }
    }
}

/// The principals of the running configuration.
#[derive(Clone, Debug, Default)]
pub struct Principals {
    /// In profile order.
    pub list: Vec<Arc<Principal>>,
}

impl Principals {
    /// From the resolved profile.
    pub fn from_cfg(cfg: &[PrincipalCfg]) -> Self {
        Principals {
            list: cfg
                .iter()
                .map(|p| Arc::new(Principal::from_cfg(p)))
                .collect(),
        }
    }

    /// By name.
    pub fn get(&self, name: &str) -> Option<&Arc<Principal>> {
        self.list.iter().find(|p| p.name == name)
    }
}

/// Checks that `phc` is an argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
pub fn check_phc(phc: &str) -> Result<(), String> {
    let h = PasswordHash::new(phc)
        .map_err(|e| format!("not a PHC string ({e}); `varouter hash-token` prints one"))?;
    if h.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "algorithm `{}`; expected argon2id (`varouter hash-token` prints one)",
            h.algorithm
        ));
    }
    if h.hash.is_none() {
        return Err("the PHC string has no hash".into());
    }
    // Only the parameters are checked: hashing here would cost what a login costs, for
    // every principal, on every transaction (the document is checked each time).
    argon2::Params::try_from(&h)
        .map(|_| ())
        .map_err(|e| format!("unusable argon2id parameters ({e})"))
}

/// The argon2id PHC string of `token` (default parameters: m=19456 KiB, t=2, p=1), with a
/// fresh random salt.
pub fn hash_token(token: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(token.as_bytes(), &salt)
        .expect("argon2 default parameters hash any input")
        .to_string()
}

/// A fresh random token: 32 bytes as 64 hex digits.
pub fn generate_token() -> String {
    let b: [u8; 32] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `token` matches the PHC string `phc`.
pub fn verify(token: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(token.as_bytes(), &h)
            .is_ok()
    })
}

/// Finds the principal a bearer token belongs to.
pub struct Authenticator {
    /// The running principals (replaced by the control thread when they change).
    pub principals: Arc<ArcSwap<Principals>>,
    cache: Mutex<HashMap<[u8; 32], (String, String)>>,
}

impl Authenticator {
    /// Over `principals`.
    pub fn new(principals: Arc<ArcSwap<Principals>>) -> Self {
        Authenticator {
            principals,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A token verified before (cheap: a SHA-256 and a map lookup): `Some(answer)`, or
    /// `None` when only [`Authenticator::authenticate`] (argon2id) can tell.
    pub fn cached(&self, token: &str) -> Option<Option<Arc<Principal>>> {
        if token.is_empty() {
            return Some(None);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.lookup(&key)
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Option<Arc<Principal>>> {
        let (name, hash) = self.cache.lock().ok()?.get(key).cloned()?;
        let ps = self.principals.load();
        Some(
            ps.get(&name)
                .filter(|p| p.token_hash == hash)
                .map(Arc::clone),
        )
    }

    /// The principal whose token is `token`, if any.
    pub fn authenticate(&self, token: &str) -> Option<Arc<Principal>> {
        if token.is_empty() {
            return None;
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(found) = self.lookup(&key) {
            return found;
        }
        let ps = self.principals.load();
        let p = ps.list.iter().find(|p| verify(token, &p.token_hash))?;
        let mut c = self.cache.lock().ok()?;
        if c.len() >= CACHE_MAX {
            c.clear();
        }
        c.insert(key, (p.name.clone(), p.token_hash.clone()));
        Some(Arc::clone(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verify_and_cache_follow_the_principals() {
        let t = generate_token();
        let h = hash_token(&t);
        assert!(check_phc(&h).is_ok(), "{h}");
        assert!(verify(&t, &h) && !verify("other", &h));
        let p = |hash: &str| Principal {
            name: "a".into(),
            role: Role::ReadOnly,
            tenant: Some("t1".into()),
            token_hash: hash.into(),
        };
        let ps = Arc::new(ArcSwap::from_pointee(Principals {
            list: vec![Arc::new(p(&h))],
        }));
        let auth = Authenticator::new(ps.clone());
        assert_eq!(auth.authenticate(&t).unwrap().name, "a");
        assert!(auth.authenticate("nope").is_none());
        // Cached now; a new hash for the principal revokes the old token at once.
        ps.store(Arc::new(Principals {
            list: vec![Arc::new(p(&hash_token("new")))],
        }));
        assert!(auth.authenticate(&t).is_none());
        assert_eq!(
            p(&h).scope(),
            Scope::Tenant("t1".into()),
            "read-only with a tenant is scoped"
        );
    }

    #[test]
    fn phc_strings_are_checked() {
        assert!(check_phc("secret").is_err());
        assert!(
            check_phc("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA").is_err()
        );
        // Memory below 8 KiB per lane is no argon2id parameter set.
        let h = |m: u32| format!("$argon2id$v=19$m={m},t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA");
        assert!(check_phc(&h(1)).is_err());
        assert!(check_phc(&h(64)).is_ok());
    }
}
