//! The virtual routers of the appliance: identity (id, name, RFC 2685 VPN id, owning
//! tenant). Their routes live with the forwarding-state writer ([`crate::state`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hashbrown::HashMap;

use crate::ids::VrId;

/// Errors about VPN identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VpnIdError {
    /// The OUI does not fit in 24 bits.
    #[error("VPN OUI {0:#x} does not fit in 3 bytes (at most 0xffffff)")]
    OuiTooLarge(u32),
    /// The text is not `oui:index`.
    #[error("`{0}` is not a VPN id; expected oui:index in hex as in RFC 2685, e.g. 00a0c9:00000001 (oui up to 6 hex digits, index up to 8)")]
    Syntax(String),
}

/// A VPN identifier (RFC 2685): a 3-byte VPN OUI (the authority that assigns the index,
/// an IEEE OUI) followed by a 4-byte VPN index.
///
/// Its text form is `oui:index` in hexadecimal, e.g. `00a0c9:00000001`; parsing accepts
/// fewer digits (`a0c9:1`) and either case, [`Display`](fmt::Display) writes the full
/// zero-padded lower-case form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VpnId {
    oui: u32,
    index: u32,
}

impl VpnId {
    /// A VPN id from its OUI (24 bits) and index.
    pub const fn new(oui: u32, index: u32) -> Result<VpnId, VpnIdError> {
        if oui > 0xFF_FFFF {
            return Err(VpnIdError::OuiTooLarge(oui));
        }
        Ok(VpnId { oui, index })
    }

    /// The VPN OUI (24 bits).
    pub const fn oui(&self) -> u32 {
        self.oui
    }

    /// The VPN index.
    pub const fn index(&self) -> u32 {
        self.index
    }

    /// The 7-byte wire form: OUI then index, big-endian.
    pub const fn to_bytes(&self) -> [u8; 7] {
        let o = self.oui.to_be_bytes();
        let i = self.index.to_be_bytes();
        [o[1], o[2], o[3], i[0], i[1], i[2], i[3]]
    }

    /// From the 7-byte wire form.
    pub const fn from_bytes(b: [u8; 7]) -> VpnId {
        VpnId {
            oui: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            index: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
        }
    }
}

impl fmt::Display for VpnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06x}:{:08x}", self.oui, self.index)
    }
}

impl FromStr for VpnId {
    type Err = VpnIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || VpnIdError::Syntax(s.to_string());
        let hex = |t: &str, max: usize| -> Option<u32> {
            if t.is_empty() || t.len() > max || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(t, 16).ok()
        };
        let (oui, index) = s.split_once(':').ok_or_else(syntax)?;
        let oui = hex(oui, 6).ok_or_else(syntax)?;
        let index = hex(index, 8).ok_or_else(syntax)?;
        VpnId::new(oui, index)
    }
}

/// One virtual router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualRouter {
    /// Identifier (the profile's `virtual_routers[].id`).
    pub id: VrId,
    /// Operator-facing name, unique on the appliance.
    pub name: String,
    /// The VPN this VR serves.
    pub vpn_id: VpnId,
    /// The tenant (carrier) that owns and may manage it.
    pub tenant: String,
}

impl VirtualRouter {
    /// A VR's identity.
    pub fn new(
        id: VrId,
        name: impl Into<String>,
        vpn_id: VpnId,
        tenant: impl Into<String>,
    ) -> Self {
        VirtualRouter {
            id,
            name: name.into(),
            vpn_id,
            tenant: tenant.into(),
        }
    }
}

/// Errors of the VR registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The id is taken.
    #[error("{id} already exists (named `{name}`)")]
    DuplicateId {
        /// The id.
        id: VrId,
        /// Name of the existing VR.
        name: String,
    },
    /// The name is taken.
    #[error("a virtual router named `{name}` already exists ({id})")]
    DuplicateName {
        /// The name.
        name: String,
        /// Id of the existing VR.
        id: VrId,
    },
    /// The name is empty.
    #[error("{0}: a virtual router needs a non-empty name")]
    EmptyName(VrId),
    /// No VR with this id.
    #[error("{0} does not exist")]
    UnknownVr(VrId),
}

/// Every VR of the appliance, by id and by name.
#[derive(Clone, Debug, Default)]
pub struct VrRegistry {
    vrs: BTreeMap<VrId, VirtualRouter>,
    names: HashMap<String, VrId>,
}

impl VrRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a VR; ids and names must be unique.
    pub fn add(&mut self, vr: VirtualRouter) -> Result<(), RegistryError> {
        if vr.name.is_empty() {
            return Err(RegistryError::EmptyName(vr.id));
        }
        if let Some(existing) = self.vrs.get(&vr.id) {
            return Err(RegistryError::DuplicateId {
                id: vr.id,
                name: existing.name.clone(),
            });
        }
        if let Some(id) = self.names.get(&vr.name) {
            return Err(RegistryError::DuplicateName {
                name: vr.name,
                id: *id,
            });
        }
        self.names.insert(vr.name.clone(), vr.id);
        self.vrs.insert(vr.id, vr);
        Ok(())
    }

    /// Removes a VR and returns it.
    pub fn remove(&mut self, id: VrId) -> Result<VirtualRouter, RegistryError> {
        let vr = self.vrs.remove(&id).ok_or(RegistryError::UnknownVr(id))?;
        self.names.remove(&vr.name);
        Ok(vr)
    }

    /// Changes a VR's tenant.
    pub fn set_tenant(&mut self, id: VrId, tenant: &str) -> Result<(), RegistryError> {
        let v = self.vrs.get_mut(&id).ok_or(RegistryError::UnknownVr(id))?;
        v.tenant = tenant.to_string();
        Ok(())
    }

    /// The VR with this id.
    pub fn get(&self, id: VrId) -> Option<&VirtualRouter> {
        self.vrs.get(&id)
    }

    /// The VR with this name.
    pub fn by_name(&self, name: &str) -> Option<&VirtualRouter> {
        self.names.get(name).and_then(|id| self.vrs.get(id))
    }

    /// The VRs serving VPN `vpn_id` (normally at most one per appliance).
    pub fn by_vpn_id(&self, vpn_id: VpnId) -> impl Iterator<Item = &VirtualRouter> + '_ {
        self.vrs.values().filter(move |vr| vr.vpn_id == vpn_id)
    }

    /// Every VR, by id.
    pub fn iter(&self) -> impl Iterator<Item = &VirtualRouter> + '_ {
        self.vrs.values()
    }

    /// Number of VRs.
    pub fn len(&self) -> usize {
        self.vrs.len()
    }

    /// True when there is no VR.
    pub fn is_empty(&self) -> bool {
        self.vrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vpn_id_text_and_bytes() {
        let v: VpnId = "00a0c9:00000001".parse().unwrap();
        assert_eq!(v.oui(), 0x00a0c9);
        assert_eq!(v.index(), 1);
        assert_eq!(v.to_string(), "00a0c9:00000001");
        assert_eq!(v.to_bytes(), [0x00, 0xa0, 0xc9, 0, 0, 0, 1]);
        assert_eq!(VpnId::from_bytes(v.to_bytes()), v);
        assert_eq!("A0C9:1".parse::<VpnId>().unwrap(), v);
        for bad in [
            "",
            "00a0c9",
            "00a0c9:",
            ":1",
            "1234567:1",
            "1:123456789",
            "g:1",
            "1:1:1",
            "+1:1",
            " 1:1",
        ] {
            assert!(bad.parse::<VpnId>().is_err(), "{bad}");
        }
        assert_eq!(
            "x".parse::<VpnId>().unwrap_err().to_string(),
            "`x` is not a VPN id; expected oui:index in hex as in RFC 2685, e.g. 00a0c9:00000001 (oui up to 6 hex digits, index up to 8)"
        );
        assert_eq!(
            VpnId::new(0x100_0000, 1),
            Err(VpnIdError::OuiTooLarge(0x100_0000))
        );
    }

    proptest! {
        #[test]
        fn vpn_id_round_trips(oui in 0u32..=0xFF_FFFF, index: u32) {
            let v = VpnId::new(oui, index).unwrap();
            prop_assert_eq!(v.to_string().parse::<VpnId>().unwrap(), v);
            prop_assert_eq!(VpnId::from_bytes(v.to_bytes()), v);
        }
    }

    #[test]
    fn registry() {
        let vpn = VpnId::new(0xa0c9, 1).unwrap();
        let mut r = VrRegistry::new();
        r.add(VirtualRouter::new(VrId(1), "acme", vpn, "carrier-a"))
            .unwrap();
        assert_eq!(
            r.add(VirtualRouter::new(VrId(1), "other", vpn, "t"))
                .unwrap_err()
                .to_string(),
            "vr1 already exists (named `acme`)"
        );
        assert_eq!(
            r.add(VirtualRouter::new(VrId(2), "acme", vpn, "t"))
                .unwrap_err()
                .to_string(),
            "a virtual router named `acme` already exists (vr1)"
        );
        assert!(r.add(VirtualRouter::new(VrId(3), "", vpn, "t")).is_err());
        r.add(VirtualRouter::new(
            VrId(2),
            "globex",
            VpnId::new(0xa0c9, 2).unwrap(),
            "t",
        ))
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.by_name("globex").unwrap().id, VrId(2));
        assert_eq!(r.by_vpn_id(vpn).count(), 1);
        assert_eq!(r.remove(VrId(1)).unwrap().name, "acme");
        assert!(r.by_name("acme").is_none());
        assert_eq!(
            r.remove(VrId(1)).unwrap_err(),
            RegistryError::UnknownVr(VrId(1))
        );
        assert_eq!(r.iter().count(), 1);
    }
}
