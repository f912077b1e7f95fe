//! Roles and scopes: what a principal may see and change.
//!
//! Delegation is the `tenant` field of a VR: a tenant-admin (or a read-only principal
//! limited to a tenant) sees exactly the VRs whose tenant is its own. Everything outside the
//! scope is answered as if it did not exist (404), never with 403.

use serde::{Deserialize, Serialize};

/// What a principal may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything: VRs, interfaces toward other carriers, delegation, principals, reload.
    CarrierAdmin,
    /// Only the VRs delegated to its tenant: their routes, L2TP, sessions, and moving the
    /// interfaces bound to them between them.
    TenantAdmin,
    /// Reads only (within its tenant when it has one).
    ReadOnly,
}

impl Role {
    /// The name used in profiles and the API (`carrier-admin`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Role::CarrierAdmin => "carrier-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::ReadOnly => "read-only",
        }
    }

    /// Whether the role may change anything at all.
    pub fn may_write(self) -> bool {
        !matches!(self, Role::ReadOnly)
    }
}

/// The VRs a principal can see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every VR, port and worker.
    All,
    /// Only VRs whose tenant is this one; ports and workers are not visible.
    Tenant(String),
}

impl Scope {
    /// Whether a VR owned by `tenant` is visible.
    pub fn sees(&self, tenant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => t == tenant,
        }
    }

    /// Whether appliance-wide facts (ports, workers, the control loop) are visible.
    pub fn sees_appliance(&self) -> bool {
        matches!(self, Scope::All)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_scope_sees_only_its_own() {
        let s = Scope::Tenant("carrier-b".into());
        assert!(s.sees("carrier-b"));
        assert!(!s.sees("carrier-c"));
        assert!(!s.sees_appliance());
        assert!(Scope::All.sees("anyone") && Scope::All.sees_appliance());
    }

    #[test]
    fn role_names_round_trip() {
        for r in [Role::CarrierAdmin, Role::TenantAdmin, Role::ReadOnly] {
            let j = serde_json::to_string(&r).unwrap();
            assert_eq!(j, format!("\"{}\"", r.name()));
            assert_eq!(serde_json::from_str::<Role>(&j).unwrap(), r);
        }
        assert!(!Role::ReadOnly.may_write());
    }
}
