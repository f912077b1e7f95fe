//! The vendor AVPs of the mobile VPN (seed 003), all with Vendor-Id [`VENDOR_ID`] (V bit)
//! and the M bit: a mobility agent that does not understand the VPN information must
//! refuse the message rather than register without the VPN. See
//! `docs/protocols/diameter-mip4.md` for the table.
//!
//! The VPN information travels as one VPN-Info-Cache AVP (the share of the Fig. 7 cache
//! instance the receiver acts on), holding one VPN-Profile per VPN. The model types are the
//! `vpndb` crate's ([`VpnCacheProfile`]); this module only encodes them. Keys are sent only
//! when the AAAH generated them (S108): a profile without keys uses the default SA that the
//! SLA pre-provisioned at the mobility agents, named by its SPIs.

use std::net::Ipv4Addr;

use vpndb::model::{AddrMask, GwType, KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

use super::{addr, children, grouped, v4_of, Avps, MsgError, MsgResult};
use crate::diameter::wire::Avp;

/// The Vendor-Id of our AVPs: 32473, the IANA enterprise number reserved for documentation
/// and examples (RFC 5612). It is not a real vendor's, so it cannot collide with deployed
/// AVPs; a deployment that registers its own enterprise number changes only this constant.
pub const VENDOR_ID: u32 = 32473;

// Codes start at 1001: decoders (Wireshark among them) read AVP codes up to 255 as RADIUS
// attributes, whose Address has no family field.

/// VPN-Info-Cache (Grouped): { VPN-Profile-Count } *{ VPN-Profile }. In HAR and AMA.
pub const VPN_INFO_CACHE: u32 = 1001;
/// VPN-Profile-Count (Unsigned32): how many VPN-Profile AVPs follow (Fig. 7 "profile number").
pub const VPN_PROFILE_COUNT: u32 = 1002;
/// VPN-Profile (Grouped): one VPN information profile of Fig. 7.
pub const VPN_PROFILE: u32 = 1003;
/// VPN-Profile-Number (Unsigned32).
pub const VPN_PROFILE_NUMBER: u32 = 1004;
/// VPN-Source-Address (Address, IPv4).
pub const VPN_SOURCE_ADDRESS: u32 = 1005;
/// VPN-Source-Mask (Address, IPv4, contiguous).
pub const VPN_SOURCE_MASK: u32 = 1006;
/// VPN-Destination-Address (Address, IPv4).
pub const VPN_DESTINATION_ADDRESS: u32 = 1007;
/// VPN-Destination-Mask (Address, IPv4, contiguous).
pub const VPN_DESTINATION_MASK: u32 = 1008;
/// VPN-TOS (Unsigned32, 0–255; 0: no marking).
pub const VPN_TOS: u32 = 1009;
/// VPN-Security-Type (Enumerated): 0 encapsulation only, 1 AH, 2 ESP.
pub const VPN_SECURITY_TYPE: u32 = 1010;
/// VPN-Source-GW (Address): the tunnel's entrance.
pub const VPN_SOURCE_GW: u32 = 1011;
/// VPN-Destination-GW (Address): the tunnel's exit.
pub const VPN_DESTINATION_GW: u32 = 1012;
/// VPN-GW-Type (Enumerated): 0 static, 1 dynamic (a PCN).
pub const VPN_GW_TYPE: u32 = 1013;
/// VPN-Up-SPI (Unsigned32).
pub const VPN_UP_SPI: u32 = 1014;
/// VPN-Down-SPI (Unsigned32).
pub const VPN_DOWN_SPI: u32 = 1015;
/// VPN-Up-Enc-Key (OctetString).
pub const VPN_UP_ENC_KEY: u32 = 1016;
/// VPN-Down-Enc-Key (OctetString).
pub const VPN_DOWN_ENC_KEY: u32 = 1017;
/// VPN-Up-Auth-Key (OctetString).
pub const VPN_UP_AUTH_KEY: u32 = 1018;
/// VPN-Down-Auth-Key (OctetString).
pub const VPN_DOWN_AUTH_KEY: u32 = 1019;
/// Old-FA-Address (Address): the FA the mobile node moved from. In AMR, HAR, HAA, AMA.
pub const OLD_FA_ADDRESS: u32 = 1020;
/// Service-Update (Unsigned32, 1): re-read the VPN database (Fig. 30). In AMR.
pub const SERVICE_UPDATE: u32 = 1021;

/// Most VPN-Profile AVPs accepted in one VPN-Info-Cache.
pub const MAX_PROFILES: usize = 64;

/// Whether `code` is one of our vendor AVPs (the M-bit dictionary).
pub fn vendor_avp_known(code: u32) -> bool {
    (VPN_INFO_CACHE..=SERVICE_UPDATE).contains(&code)
}

pub(super) fn vendor(a: Avp) -> Avp {
    a.with_vendor(VENDOR_ID)
}
pub(super) fn vendor_addr(code: u32, a: Ipv4Addr) -> Avp {
    vendor(addr(code, a))
}
pub(super) fn vendor_u32(code: u32, v: u32) -> Avp {
    vendor(Avp::u32(code, v))
}
pub(super) fn vendor_flag(l: &Avps<'_>, code: u32) -> MsgResult<bool> {
    match l.get(code, Some(VENDOR_ID)) {
        None => Ok(false),
        Some(a) => match a.as_u32() {
            Ok(v) => Ok(v != 0),
            Err(e) => Err(MsgError::from_wire(e, a)),
        },
    }
}

/// The VPN information carried in HAR and AMA: the profiles the receiver sets up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VpnInfo {
    /// The VPN information profiles (Fig. 7).
    pub profiles: Vec<VpnCacheProfile>,
}

fn security_code(s: SecurityType) -> u32 {
    match s {
        SecurityType::EncapsulationOnly => 0,
        SecurityType::Ah => 1,
        SecurityType::Esp => 2,
    }
}

fn gw_type_code(g: GwType) -> u32 {
    match g {
        GwType::Static => 0,
        GwType::Dynamic => 1,
    }
}

fn profile_to_avp(p: &VpnCacheProfile) -> Avp {
    let mut c = vec![
        vendor_u32(VPN_PROFILE_NUMBER, p.profile_number),
        vendor_addr(VPN_SOURCE_ADDRESS, p.src.addr()),
        vendor_addr(VPN_SOURCE_MASK, p.src.mask()),
        vendor_addr(VPN_DESTINATION_ADDRESS, p.dst.addr()),
        vendor_addr(VPN_DESTINATION_MASK, p.dst.mask()),
        vendor_u32(VPN_TOS, u32::from(p.tos)),
        vendor_u32(VPN_SECURITY_TYPE, security_code(p.security)),
        vendor_addr(VPN_SOURCE_GW, p.src_gw),
        vendor_addr(VPN_DESTINATION_GW, p.dst_gw),
        vendor_u32(VPN_GW_TYPE, gw_type_code(p.dst_gw_type)),
        vendor_u32(VPN_UP_SPI, p.up_spi),
        vendor_u32(VPN_DOWN_SPI, p.down_spi),
    ];
    for (code, k) in [
        (VPN_UP_ENC_KEY, &p.keys.up_enc),
        (VPN_DOWN_ENC_KEY, &p.keys.down_enc),
        (VPN_UP_AUTH_KEY, &p.keys.up_auth),
        (VPN_DOWN_AUTH_KEY, &p.keys.down_auth),
    ] {
        if !k.is_empty() {
            c.push(vendor(Avp::new(code, k.as_bytes().to_vec())));
        }
    }
    vendor(grouped(VPN_PROFILE, &c))
}

fn addr_mask(l: &Avps<'_>, a_code: u32, m_code: u32, name: &str) -> MsgResult<AddrMask> {
    let a = l.req_v(a_code, name)?;
    let m = l.req_v(m_code, name)?;
    AddrMask::new(v4_of(a)?, v4_of(m)?).map_err(|e| MsgError::invalid(m, &e.to_string()))
}

fn u32_v(l: &Avps<'_>, code: u32, name: &str) -> MsgResult<u32> {
    let a = l.req_v(code, name)?;
    a.as_u32().map_err(|e| MsgError::from_wire(e, a))
}

fn key_v(l: &Avps<'_>, code: u32) -> KeyBytes {
    l.get(code, Some(VENDOR_ID))
        .map(|a| KeyBytes::new(a.data.clone()))
        .unwrap_or_default()
}

/// Refuses an unknown vendor child with the M bit (5001), as the top-level check does.
fn check_children(c: &[Avp]) -> MsgResult<()> {
    match c
        .iter()
        .find(|a| a.mandatory && !(a.vendor == Some(VENDOR_ID) && vendor_avp_known(a.code)))
    {
        Some(a) => Err(MsgError {
            result_code: crate::diameter::wire::codes::result::AVP_UNSUPPORTED,
            failed_avp: Some(a.clone()),
            why: format!(
                "AVP {} (vendor {}) inside a VPN AVP is not understood",
                a.code,
                a.vendor.unwrap_or(0)
            ),
        }),
        None => Ok(()),
    }
}

fn profile_from_avp(a: &Avp) -> MsgResult<VpnCacheProfile> {
    let c = children(a)?;
    check_children(&c)?;
    let l = Avps(&c);
    let tos_avp = l.req_v(VPN_TOS, "VPN-TOS")?;
    let tos = u32_v(&l, VPN_TOS, "VPN-TOS")?;
    let tos = u8::try_from(tos).map_err(|_| MsgError::invalid(tos_avp, "VPN-TOS above 255"))?;
    let sec_avp = l.req_v(VPN_SECURITY_TYPE, "VPN-Security-Type")?;
    let security = match u32_v(&l, VPN_SECURITY_TYPE, "VPN-Security-Type")? {
        0 => SecurityType::EncapsulationOnly,
        1 => SecurityType::Ah,
        2 => SecurityType::Esp,
        _ => {
            return Err(MsgError::invalid(
                sec_avp,
                "VPN-Security-Type not 0, 1 or 2",
            ))
        }
    };
    let gw_avp = l.req_v(VPN_GW_TYPE, "VPN-GW-Type")?;
    let dst_gw_type = match u32_v(&l, VPN_GW_TYPE, "VPN-GW-Type")? {
        0 => GwType::Static,
        1 => GwType::Dynamic,
        _ => return Err(MsgError::invalid(gw_avp, "VPN-GW-Type not 0 or 1")),
    };
    Ok(VpnCacheProfile {
        profile_number: u32_v(&l, VPN_PROFILE_NUMBER, "VPN-Profile-Number")?,
        src: addr_mask(
            &l,
            VPN_SOURCE_ADDRESS,
            VPN_SOURCE_MASK,
            "VPN-Source-Address/Mask",
        )?,
        dst: addr_mask(
            &l,
            VPN_DESTINATION_ADDRESS,
            VPN_DESTINATION_MASK,
            "VPN-Destination-Address/Mask",
        )?,
        tos,
        security,
        src_gw: v4_of(l.req_v(VPN_SOURCE_GW, "VPN-Source-GW")?)?,
        dst_gw: v4_of(l.req_v(VPN_DESTINATION_GW, "VPN-Destination-GW")?)?,
        dst_gw_type,
        up_spi: u32_v(&l, VPN_UP_SPI, "VPN-Up-SPI")?,
        down_spi: u32_v(&l, VPN_DOWN_SPI, "VPN-Down-SPI")?,
        keys: SaKeys {
            up_enc: key_v(&l, VPN_UP_ENC_KEY),
            down_enc: key_v(&l, VPN_DOWN_ENC_KEY),
            up_auth: key_v(&l, VPN_UP_AUTH_KEY),
            down_auth: key_v(&l, VPN_DOWN_AUTH_KEY),
        },
    })
}

impl VpnInfo {
    /// The VPN-Info-Cache AVP.
    pub fn to_avp(&self) -> Avp {
        let mut c = vec![vendor_u32(VPN_PROFILE_COUNT, self.profiles.len() as u32)];
        c.extend(self.profiles.iter().map(profile_to_avp));
        vendor(grouped(VPN_INFO_CACHE, &c))
    }

    /// Reads a VPN-Info-Cache AVP: the count must match, at most [`MAX_PROFILES`].
    pub fn from_avp(a: &Avp) -> MsgResult<VpnInfo> {
        let c = children(a)?;
        check_children(&c)?;
        let l = Avps(&c);
        let count_avp = l.req_v(VPN_PROFILE_COUNT, "VPN-Profile-Count")?;
        let count = u32_v(&l, VPN_PROFILE_COUNT, "VPN-Profile-Count")? as usize;
        let profs: Vec<&Avp> = l.all(VPN_PROFILE, Some(VENDOR_ID)).collect();
        if profs.len() != count || count > MAX_PROFILES {
            return Err(MsgError::invalid(
                count_avp,
                "VPN-Profile-Count does not match the VPN-Profile AVPs (or above 64)",
            ));
        }
        Ok(VpnInfo {
            profiles: profs
                .into_iter()
                .map(profile_from_avp)
                .collect::<MsgResult<_>>()?,
        })
    }
}
