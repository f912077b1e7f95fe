//! The `aaa` section: the mobile VPN's AAA — role, listening address, Diameter identity,
//! peers, and for a home AAA its VPN database and MN-AAA keys (docs/profile.md,
//! docs/mobile-vpn.md).

use super::Checker;
use crate::aaa::{AaaConfig, AaaRole};
use crate::profile::{Aaa, S};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use vpndb::model::{KeyBytes, Nai};

/// Whether `s` is a DiameterIdentity we accept: a host or realm name (RFC 6733 §4.3.1: an
/// FQDN), letters, digits, `-` and `.`, 1..=255 octets, no empty label.
pub(super) fn identity_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn identity(c: &mut Checker, v: &S<String>, key: &str) {
    if !identity_ok(&v.value) {
        c.err(
            v.referenced,
            format!(
                "aaa.{key} `{}` is not a host or realm name; expected an FQDN such as aaa.example.net",
                v.value
            ),
        );
    }
}

/// Resolves `aaa.database` into a `vpndb` URL.
fn database_url(c: &mut Checker, d: &S<String>, base: &Path) -> Option<String> {
    let v = d.value.trim();
    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
        return Some(v.to_string());
    }
    let path = match v.strip_prefix("sqlite:") {
        Some(p) => p,
        None if v.contains("://") || v.is_empty() => {
            c.err(
                d.referenced,
                format!(
                    "aaa.database `{}` is not a database; expected sqlite:PATH, a file path, or postgres://USER@HOST:PORT/DB",
                    d.value
                ),
            );
            return None;
        }
        None => v,
    };
    if path.is_empty() {
        c.err(d.referenced, "aaa.database `sqlite:` names no file");
        return None;
    }
    let p = base.join(path);
    let dir = p.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() && !dir.is_dir() {
        c.err(
            d.referenced,
            format!(
                "aaa.database: the directory of `{path}` does not exist (resolved to {})",
                p.display()
            ),
        );
        return None;
    }
    Some(format!("sqlite:{}", p.display()))
}

/// Reads the MN-AAA key file: a map NAI → hexadecimal key.
fn mn_aaa_keys(c: &mut Checker, f: &S<String>, base: &Path) -> HashMap<String, KeyBytes> {
    let path = base.join(&f.value);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            c.err(
                f.referenced,
                format!(
                    "aaa.mn_aaa_keys: cannot read `{}` (resolved to {}): {e}",
                    f.value,
                    path.display()
                ),
            );
            return HashMap::new();
        }
    };
    let map: BTreeMap<String, String> = match serde_saphyr::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            c.err(
                f.referenced,
                format!(
                    "aaa.mn_aaa_keys: {}: {e}; expected a map of NAI to hexadecimal key (alice@isp.example: 00112233...)",
                    path.display()
                ),
            );
            return HashMap::new();
        }
    };
    let mut keys = HashMap::new();
    for (nai, hex) in map {
        if let Err(e) = Nai::parse(&nai) {
            c.err(
                f.referenced,
                format!(
                    "aaa.mn_aaa_keys: {}: `{nai}` is not an NAI: {e}",
                    path.display()
                ),
            );
            continue;
        }
        match KeyBytes::from_hex(&hex) {
            Ok(k) if !k.as_bytes().is_empty() => {
                keys.insert(nai, k);
            }
            Ok(_) => c.err(
                f.referenced,
                format!(
                    "aaa.mn_aaa_keys: {}: the key of `{nai}` is empty",
                    path.display()
                ),
            ),
            Err(e) => c.err(
                f.referenced,
                format!(
                    "aaa.mn_aaa_keys: {}: the key of `{nai}` is not hexadecimal: {e}",
                    path.display()
                ),
            ),
        }
    }
    keys
}

/// Checks `a`; relative paths are resolved against `base` (the profile's directory).
pub(super) fn check(c: &mut Checker, a: &Aaa, base: &Path) -> Option<AaaConfig> {
    let before = c.errors.len();
    let role = match a.role.value.as_str() {
        "home" => Some(AaaRole::Home),
        "foreign" => Some(AaaRole::Foreign),
        other => {
            c.err(
                a.role.referenced,
                format!("unknown aaa.role `{other}`; expected home (AAAH) or foreign (AAAF)"),
            );
            None
        }
    };
    let listen = match a.listen.value.parse::<SocketAddr>() {
        Ok(l) => Some(l),
        Err(_) => {
            c.err(
                a.listen.referenced,
                format!(
                    "aaa.listen `{}` is not an address and port; expected e.g. 0.0.0.0:3868",
                    a.listen.value
                ),
            );
            None
        }
    };
    identity(c, &a.origin_host, "origin_host");
    identity(c, &a.origin_realm, "origin_realm");
    let mut peers = Vec::new();
    let mut seen = HashSet::new();
    for p in &a.peers {
        match p.value.parse::<SocketAddr>() {
            Ok(s) if Some(s) == listen => c.err(
                p.referenced,
                format!("aaa.peers: `{}` is our own aaa.listen", p.value),
            ),
            Ok(s) if !seen.insert(s) => c.err(
                p.referenced,
                format!("aaa.peers: `{}` is listed twice", p.value),
            ),
            Ok(s) => peers.push(s),
            Err(_) => c.err(
                p.referenced,
                format!(
                    "aaa.peers: `{}` is not an address and port; expected e.g. 192.0.2.10:3868",
                    p.value
                ),
            ),
        }
    }
    // Keys that only a home AAA has.
    if role == Some(AaaRole::Foreign) {
        let home_only: [(&str, Option<serde_saphyr::Location>); 7] = [
            ("database", a.database.as_ref().map(|v| v.referenced)),
            ("mn_aaa_keys", a.mn_aaa_keys.as_ref().map(|v| v.referenced)),
            (
                "require_mn_aaa_auth",
                a.require_mn_aaa_auth.as_ref().map(|v| v.referenced),
            ),
            ("ha_host", a.ha_host.as_ref().map(|v| v.referenced)),
            (
                "record_sessions",
                a.record_sessions.as_ref().map(|v| v.referenced),
            ),
            (
                "plain_mobile_ip",
                a.plain_mobile_ip.as_ref().map(|v| v.referenced),
            ),
            (
                "authorization_lifetime",
                a.authorization_lifetime.as_ref().map(|v| v.referenced),
            ),
        ];
        for (key, loc) in home_only {
            if let Some(loc) = loc {
                c.err(
                    loc,
                    format!(
                        "aaa.{key} applies to role home; a foreign AAA has no users or database of its own"
                    ),
                );
            }
        }
    }
    let database = match (&a.database, role) {
        (Some(d), Some(AaaRole::Home)) => database_url(c, d, base),
        (None, Some(AaaRole::Home)) => {
            c.err(
                a.role.referenced,
                "aaa.role home needs `database` (the VPN database: sqlite:PATH or postgres://...)",
            );
            None
        }
        _ => None,
    };
    let keys = match (&a.mn_aaa_keys, role) {
        (Some(f), Some(AaaRole::Home)) => mn_aaa_keys(c, f, base),
        _ => HashMap::new(),
    };
    let require = a.require_mn_aaa_auth.as_ref().is_none_or(|v| v.value);
    if role == Some(AaaRole::Home) && require && a.mn_aaa_keys.is_none() {
        c.err(
            a.role.referenced,
            "aaa: with require_mn_aaa_auth (the default) every user needs an MN-AAA key; give `mn_aaa_keys` or set `require_mn_aaa_auth: false`",
        );
    }
    if let Some(h) = &a.ha_host {
        identity(c, h, "ha_host");
    }
    let lifetime = match &a.authorization_lifetime {
        Some(l) if l.value == 0 => {
            c.err(
                l.referenced,
                "aaa.authorization_lifetime is 0; expected seconds, at least 1",
            );
            0
        }
        Some(l) => l.value,
        None => 3600,
    };
    let timeout = match &a.transaction_timeout_ms {
        Some(t) if !(100..=600_000).contains(&t.value) => {
            c.err(
                t.referenced,
                format!(
                    "aaa.transaction_timeout_ms {} is out of range; expected 100..=600000",
                    t.value
                ),
            );
            Duration::ZERO
        }
        Some(t) => Duration::from_millis(t.value),
        None => Duration::from_secs(10),
    };
    let mut positive = |v: &Option<S<u32>>, key: &str, default: usize| match v {
        Some(n) if n.value == 0 => {
            c.err(n.referenced, format!("aaa.{key} is 0; expected at least 1"));
            0
        }
        Some(n) => n.value as usize,
        None => default,
    };
    let max_transactions = positive(&a.max_transactions, "max_transactions", 4096);
    let max_sessions = positive(&a.max_sessions, "max_sessions", 100_000);
    if c.errors.len() != before {
        return None;
    }
    let mut cfg = AaaConfig::new(role?, listen?, &a.origin_host.value, &a.origin_realm.value);
    cfg.peers = peers;
    cfg.database = database;
    cfg.mn_aaa_keys = keys;
    cfg.require_mn_aaa_auth = require;
    cfg.plain_mobile_ip = a.plain_mobile_ip.as_ref().is_some_and(|v| v.value);
    cfg.ha_host = a.ha_host.as_ref().map(|h| h.value.clone());
    cfg.authorization_lifetime = lifetime;
    cfg.transaction_timeout = timeout;
    cfg.max_transactions = max_transactions;
    cfg.max_sessions = max_sessions;
    cfg.record_sessions =
        role == Some(AaaRole::Home) && a.record_sessions.as_ref().is_none_or(|v| v.value);
    Some(cfg)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn check(
        aaa: &str,
        dir: &Path,
    ) -> Result<crate::config::Config, Vec<crate::profile::ProfileError>> {
        let text = format!(
            "router_id: 192.0.2.1\nports:\n  - {{ name: p0, backend: mem, mac: \"02:00:00:00:00:01\" }}\naaa:\n{aaa}"
        );
        crate::parse_config(&dir.join("p.yaml"), &text)
    }

    fn errors(aaa: &str, dir: &Path) -> String {
        match check(aaa, dir) {
            Ok(_) => panic!("accepted:\n{aaa}"),
            Err(e) => e.iter().map(|e| e.to_string() + "\n").collect(),
        }
    }

    #[test]
    fn a_home_aaa_resolves_its_database_and_keys() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("keys.yaml"),
            "alice@isp.example: 00112233\nbob@isp.example: \"aabb\"\n",
        )
        .unwrap();
        let cfg = check(
            "  role: home\n  listen: 127.0.0.1:3868\n  origin_host: aaah.isp.example\n  origin_realm: isp.example\n  peers: [192.0.2.10:3868]\n  database: sqlite:vpndb.sqlite\n  mn_aaa_keys: keys.yaml\n  ha_host: ha.isp.example\n  authorization_lifetime: 600\n",
            d.path(),
        )
        .unwrap();
        let a = cfg.aaa.unwrap();
        assert_eq!(a.role, crate::aaa::AaaRole::Home);
        assert_eq!(
            a.database.as_deref(),
            Some(format!("sqlite:{}", d.path().join("vpndb.sqlite").display()).as_str())
        );
        assert_eq!(a.mn_aaa_keys.len(), 2);
        assert_eq!(
            a.mn_aaa_keys["alice@isp.example"].as_bytes(),
            &[0, 0x11, 0x22, 0x33]
        );
        assert_eq!(a.peers, vec!["192.0.2.10:3868".parse().unwrap()]);
        assert_eq!(a.authorization_lifetime, 600);
        assert_eq!(a.ha_host.as_deref(), Some("ha.isp.example"));
        assert!(a.record_sessions);
    }

    #[test]
    fn every_mistake_is_reported_with_its_place() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("keys.yaml"),
            "not-an-nai: 0011\nalice@isp.example: xyz\n",
        )
        .unwrap();
        let e = errors(
            "  role: home\n  listen: nowhere\n  origin_host: \"aaa host\"\n  origin_realm: isp.example\n  peers: [1.2.3.4, 192.0.2.1:1, 192.0.2.1:1]\n  database: mysql://x\n  mn_aaa_keys: keys.yaml\n  transaction_timeout_ms: 5\n  max_sessions: 0\n",
            d.path(),
        );
        for want in [
            "p.yaml:6:11: aaa.listen `nowhere` is not an address and port",
            "p.yaml:7:16: aaa.origin_host `aaa host` is not a host or realm name",
            "aaa.peers: `1.2.3.4` is not an address and port",
            "aaa.peers: `192.0.2.1:1` is listed twice",
            "aaa.database `mysql://x` is not a database",
            "`not-an-nai` is not an NAI",
            "the key of `alice@isp.example` is not hexadecimal",
            "aaa.transaction_timeout_ms 5 is out of range",
            "aaa.max_sessions is 0",
        ] {
            assert!(e.contains(want), "missing `{want}` in:\n{e}");
        }
    }

    #[test]
    fn role_rules() {
        let d = tempfile::tempdir().unwrap();
        let e = errors(
            "  role: home\n  listen: 127.0.0.1:3868\n  origin_host: a.example\n  origin_realm: example\n",
            d.path(),
        );
        assert!(e.contains("aaa.role home needs `database`"), "{e}");
        assert!(
            e.contains("give `mn_aaa_keys` or set `require_mn_aaa_auth: false`"),
            "{e}"
        );
        let e = errors(
            "  role: foreign\n  listen: 127.0.0.1:3868\n  origin_host: a.example\n  origin_realm: example\n  database: sqlite:x.sqlite\n  ha_host: ha.example\n  plain_mobile_ip: true\n",
            d.path(),
        );
        assert!(e.contains("aaa.database applies to role home"), "{e}");
        assert!(e.contains("aaa.ha_host applies to role home"), "{e}");
        assert!(
            e.contains("aaa.plain_mobile_ip applies to role home"),
            "{e}"
        );
        let e = errors(
            "  role: visited\n  listen: 127.0.0.1:3868\n  origin_host: a.example\n  origin_realm: example\n",
            d.path(),
        );
        assert!(
            e.contains("unknown aaa.role `visited`; expected home (AAAH) or foreign (AAAF)"),
            "{e}"
        );
        // A foreign AAA needs nothing more; a home one without authentication no key file.
        let cfg = check(
            "  role: foreign\n  listen: 127.0.0.1:3868\n  origin_host: aaaf.visited.example\n  origin_realm: visited.example\n  peers: [192.0.2.1:3868]\n",
            d.path(),
        )
        .unwrap();
        assert_eq!(cfg.aaa.unwrap().role, crate::aaa::AaaRole::Foreign);
        let cfg = check(
            "  role: home\n  listen: 127.0.0.1:3868\n  origin_host: a.example\n  origin_realm: example\n  database: postgres://u@127.0.0.1:5432/v\n  require_mn_aaa_auth: false\n",
            d.path(),
        )
        .unwrap();
        let a = cfg.aaa.unwrap();
        assert!(!a.require_mn_aaa_auth);
        assert!(!a.plain_mobile_ip, "off unless asked for");
        assert_eq!(a.database.as_deref(), Some("postgres://u@127.0.0.1:5432/v"));
        let cfg = check(
            "  role: home\n  listen: 127.0.0.1:3868\n  origin_host: a.example\n  origin_realm: example\n  database: postgres://u@127.0.0.1:5432/v\n  require_mn_aaa_auth: false\n  plain_mobile_ip: true\n",
            d.path(),
        )
        .unwrap();
        assert!(cfg.aaa.unwrap().plain_mobile_ip);
    }
}
