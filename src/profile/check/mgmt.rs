//! The `management` section: the API's listening address, TLS files, owner, audit log and
//! principals (docs/profile.md, docs/api.md).

use super::Checker;
use crate::config::{
    ManagementCfg, PortalCfg, PrincipalCfg, TlsCfg, DEFAULT_OWNER, DEFAULT_PORTAL_IDLE_MINUTES,
};
use crate::mgmt::scope::Role;
use crate::profile::Management;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

/// Checks `m`; relative paths are resolved against `base` (the profile's directory).
pub(super) fn check(c: &mut Checker, m: &Management, base: &Path) -> Option<ManagementCfg> {
    let before = c.errors.len();
    let listen = match m.listen.value.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            c.err(
                m.listen.referenced,
                format!(
                    "management.listen `{}` is not an address and port; expected e.g. 127.0.0.1:8443 or [::1]:8443",
                    m.listen.value
                ),
            );
            None
        }
    };
    let tls = m.tls.as_ref().map(|t| {
        let cert = base.join(&t.cert.value);
        let key = base.join(&t.key.value);
        for (s, p, what) in [(&t.cert, &cert, "certificate"), (&t.key, &key, "key")] {
            if !p.is_file() {
                c.err(
                    s.referenced,
                    format!(
                        "TLS {what} file `{}` does not exist (resolved to {})",
                        s.value,
                        p.display()
                    ),
                );
            }
        }
        TlsCfg { cert, key }
    });
    let owner = match &m.owner {
        Some(o) if o.value.is_empty() => {
            c.err(
                o.referenced,
                "management.owner is empty; expected the carrier's tenant name",
            );
            String::new()
        }
        Some(o) => o.value.clone(),
        None => DEFAULT_OWNER.to_string(),
    };
    let audit_log = m.audit_log.as_ref().map(|a| {
        if a.value.is_empty() {
            c.err(
                a.referenced,
                "management.audit_log is empty; expected a file",
            );
        }
        base.join(&a.value)
    });
    let mut names = HashSet::new();
    let mut principals = Vec::new();
    for p in &m.principals {
        if p.name.value.is_empty() {
            c.err(p.name.referenced, "principal name is empty");
        } else if !names.insert(p.name.value.as_str()) {
            c.err(
                p.name.referenced,
                format!(
                    "principal `{}` is defined twice; principal names must be unique",
                    p.name.value
                ),
            );
        }
        let role = match p.role.value.as_str() {
            "carrier-admin" => Some(Role::CarrierAdmin),
            "tenant-admin" => Some(Role::TenantAdmin),
            "read-only" => Some(Role::ReadOnly),
            other => {
                c.err(
                    p.role.referenced,
                    format!(
                        "unknown role `{other}`; expected carrier-admin, tenant-admin or read-only"
                    ),
                );
                None
            }
        };
        let tenant = p.tenant.as_ref().map(|t| {
            if t.value.is_empty() {
                c.err(t.referenced, "principal tenant is empty");
            }
            t.value.clone()
        });
        match (role, &p.tenant) {
            (Some(Role::TenantAdmin), None) => c.err(
                p.role.referenced,
                format!(
                    "principal `{}` is a tenant-admin without `tenant`; a tenant-admin administers one tenant's VRs",
                    p.name.value
                ),
            ),
            (Some(Role::CarrierAdmin), Some(t)) => c.err(
                t.referenced,
                format!(
                    "principal `{}` is a carrier-admin, which sees every VR; `tenant` applies to tenant-admin and read-only",
                    p.name.value
                ),
            ),
            _ => {}
        }
        if let Err(e) = crate::mgmt::auth::check_phc(&p.token_hash.value) {
            c.err(p.token_hash.referenced, format!("token_hash: {e}"));
        }
        if let Some(role) = role {
            principals.push(PrincipalCfg {
                name: p.name.value.clone(),
                role,
                tenant,
                token_hash: p.token_hash.value.clone(),
            });
        }
    }
    let portal = m.portal.as_ref().map(|p| check_portal(c, p, base));
    if c.errors.len() != before {
        return None;
    }
    Some(ManagementCfg {
        listen: listen?,
        tls,
        owner,
        audit_log,
        principals,
        portal,
    })
}

/// `management.portal`: the database URL (a relative SQLite path is resolved against the
/// profile's directory) and the login's idle time.
fn check_portal(c: &mut Checker, p: &crate::profile::Portal, base: &Path) -> PortalCfg {
    let db = p.database.value.trim();
    let database = if let Some(path) = db.strip_prefix("sqlite:") {
        if path.is_empty() {
            c.err(
                p.database.referenced,
                "management.portal.database `sqlite:` has no file; expected e.g. sqlite:vpndb.sqlite",
            );
        }
        format!("sqlite:{}", base.join(path).display())
    } else if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        db.to_string()
    } else {
        c.err(
            p.database.referenced,
            format!(
                "management.portal.database `{}` is not a VPN database URL; expected sqlite:PATH (relative to the profile) or postgres://USER@HOST:PORT/DB",
                p.database.value
            ),
        );
        String::new()
    };
    let minutes = match &p.idle_minutes {
        Some(m) if !(1..=1440).contains(&m.value) => {
            c.err(
                m.referenced,
                format!(
                    "management.portal.idle_minutes {} is out of range; expected 1 to 1440",
                    m.value
                ),
            );
            DEFAULT_PORTAL_IDLE_MINUTES
        }
        Some(m) => m.value,
        None => DEFAULT_PORTAL_IDLE_MINUTES,
    };
    PortalCfg {
        database,
        idle: std::time::Duration::from_secs(minutes * 60),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    const HASH: &str = "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$5Yt0Vn2NDKpwwYoEobxxZ5N4J9Tx0k1EAVsWm2qbAXc";

    fn check(mgmt: &str) -> Result<crate::config::Config, Vec<crate::profile::ProfileError>> {
        let text = format!(
            "router_id: 192.0.2.1\nports:\n  - {{ name: p0, backend: mem, mac: \"02:00:00:00:00:01\" }}\nmanagement:\n{mgmt}"
        );
        crate::parse_config(Path::new("/nonexistent/p.yaml"), &text)
    }

    #[test]
    fn a_good_section_resolves() {
        let c = check(&format!(
            "  listen: 127.0.0.1:8443\n  audit_log: a.jsonl\n  principals:\n    - {{ name: a, role: carrier-admin, token_hash: \"{HASH}\" }}\n    - {{ name: b, role: tenant-admin, tenant: t2, token_hash: \"{HASH}\" }}\n"
        ))
        .unwrap();
        let m = c.management.unwrap();
        assert_eq!(m.listen.port(), 8443);
        assert_eq!(m.owner, crate::config::DEFAULT_OWNER);
        assert_eq!(m.audit_log.unwrap(), Path::new("/nonexistent/a.jsonl"));
        assert_eq!(m.principals[1].tenant.as_deref(), Some("t2"));
    }

    #[test]
    fn every_mistake_is_reported_at_its_line() {
        let errs = check(&format!(
            "  listen: localhost\n  tls: {{ cert: nope.pem, key: nope.key }}\n  principals:\n    - {{ name: a, role: admin, token_hash: \"{HASH}\" }}\n    - {{ name: a, role: tenant-admin, token_hash: \"{HASH}\" }}\n    - {{ name: c, role: read-only, token_hash: plain }}\n    - {{ name: d, role: carrier-admin, tenant: x, token_hash: \"{HASH}\" }}\n"
        ))
        .unwrap_err();
        let lines: Vec<(u64, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        let has = |line: u64, what: &str| lines.iter().any(|(l, m)| *l == line && m.contains(what));
        assert!(has(5, "not an address"), "{lines:?}");
        assert!(has(6, "certificate file"), "{lines:?}");
        assert!(has(6, "key file"), "{lines:?}");
        assert!(has(8, "unknown role"), "{lines:?}");
        assert!(has(9, "defined twice"), "{lines:?}");
        assert!(has(9, "without `tenant`"), "{lines:?}");
        assert!(has(10, "token_hash"), "{lines:?}");
        assert!(has(11, "carrier-admin"), "{lines:?}");
    }

    #[test]
    fn the_portal_section_resolves_and_refuses_bad_values() {
        let c = check("  listen: 127.0.0.1:8443\n  portal: { database: sqlite:vpn/db.sqlite }\n")
            .unwrap();
        let p = c.management.unwrap().portal.unwrap();
        assert_eq!(p.database, "sqlite:/nonexistent/vpn/db.sqlite");
        assert_eq!(p.idle.as_secs(), 15 * 60);
        let c = check(
            "  listen: 127.0.0.1:8443\n  portal: { database: \"postgres://vpn@db:5432/vpn\", idle_minutes: 5 }\n",
        )
        .unwrap();
        let p = c.management.unwrap().portal.unwrap();
        assert_eq!(p.database, "postgres://vpn@db:5432/vpn");
        assert_eq!(p.idle.as_secs(), 300);
        let errs = check(
            "  listen: 127.0.0.1:8443\n  portal:\n    database: mysql://x\n    idle_minutes: 0\n",
        )
        .unwrap_err();
        let lines: Vec<(u64, &str)> = errs.iter().map(|e| (e.line, e.message.as_str())).collect();
        let has = |line: u64, what: &str| lines.iter().any(|(l, m)| *l == line && m.contains(what));
        assert!(has(7, "not a VPN database URL"), "{lines:?}");
        assert!(has(8, "idle_minutes 0 is out of range"), "{lines:?}");
        let errs =
            check("  listen: 127.0.0.1:8443\n  portal: { database: \"sqlite:\" }\n").unwrap_err();
        assert!(errs[0].message.contains("has no file"), "{errs:?}");
        assert!(
            check("  listen: 127.0.0.1:8443\n  portal: { database: sqlite:a, theme: dark }\n")
                .is_err()
        );
    }
}
