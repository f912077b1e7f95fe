//! Extensions of the registration and binding messages (RFC 5944 §3.5, §1.10).
//!
//! Three encodings, chosen by type:
//! - Pad (type 0): one byte, no length.
//! - short: Type (1), Length (1), data — Length counts the data only;
//! - long: the generalized authentication extension (36, RFC 3012 §5: Type, Subtype,
//!   Length (2), SPI, authenticator) and the CVSE (38, RFC 3115 §3.1: Type, Reserved,
//!   Length (2), Vendor-ID, Vendor-CVSE-Type, value) — Length counts what follows it.
//!
//! The seed's VPN information and the Previous Foreign Agent Notification travel in vendor
//! extensions with our Vendor-ID ([`VENDOR_ID`], the same as the Diameter vendor AVPs): the
//! route optimisation draft's type numbers were never assigned by IANA, and a vendor
//! extension cannot collide with an assigned one. See `docs/protocols/mobile-ip.md`.

use std::net::Ipv4Addr;

use vpndb::model::{AddrMask, GwType, KeyBytes, SaKeys, SecurityType, VpnCacheProfile};

use super::{u16_at, u32_at, v4, Error, Result};

/// Extension types.
pub mod kind {
    /// One-byte padding.
    pub const PAD: u8 = 0;
    /// Mobile-Home Authentication (RFC 5944 §3.5.2).
    pub const MN_HA_AUTH: u8 = 32;
    /// Mobile-Foreign Authentication (§3.5.3).
    pub const MN_FA_AUTH: u8 = 33;
    /// Foreign-Home Authentication (§3.5.4).
    pub const FA_HA_AUTH: u8 = 34;
    /// Route Optimization Authentication (draft-ietf-mobileip-optim-09 §5.5), on binding
    /// messages.
    pub const RO_AUTH: u8 = 35;
    /// Generalized Mobile IP Authentication (RFC 3012 §5).
    pub const GEN_AUTH: u8 = 36;
    /// Critical Vendor/Organization Specific Extension (RFC 3115 §3.1).
    pub const CVSE: u8 = 38;
    /// Mobile Node NAI (RFC 2794 §2).
    pub const NAI: u8 = 131;
    /// MN-FA Challenge (RFC 3012 §4).
    pub const MN_FA_CHALLENGE: u8 = 132;
    /// Normal Vendor/Organization Specific Extension (RFC 3115 §3.2).
    pub const NVSE: u8 = 134;
}

/// Subtype 1 of the generalized authentication extension: MN-AAA (RFC 3012 §6).
pub const SUBTYPE_MN_AAA: u8 = 1;
/// Our Vendor-ID (RFC 5612's documentation number, as in the Diameter vendor AVPs).
pub const VENDOR_ID: u32 = crate::diameter::mip4::VENDOR_ID;
/// Vendor type of the Previous Foreign Agent Notification (NVSE): previous FA address (4),
/// the lifetime the old FA keeps forwarding (2).
pub const VENDOR_PREV_FA: u16 = 1;
/// Vendor type of one VPN information profile (CVSE, critical: an agent that cannot read it
/// must not install a binding without the VPN).
pub const VENDOR_VPN_PROFILE: u16 = 2;
/// Vendor type of the Service-Update request (NVSE, no value): the mobile node asks the AAAH
/// to re-read its VPN data after a change on the web page (Fig. 30 ②).
pub const VENDOR_SERVICE_UPDATE: u16 = 3;
/// Most extensions decoded from one message.
pub const MAX_EXTENSIONS: usize = 32;

/// One extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// Padding byte (type 0).
    Pad,
    /// Authentication extensions 32–35: SPI and authenticator.
    Auth {
        /// 32, 33, 34 or 35.
        kind: u8,
        /// Security Parameter Index.
        spi: u32,
        /// The authenticator (16 bytes for the HMAC-MD5 default).
        authenticator: Vec<u8>,
    },
    /// Generalized authentication (36).
    GenAuth {
        /// Subtype (1: MN-AAA).
        subtype: u8,
        /// SPI.
        spi: u32,
        /// Authenticator.
        authenticator: Vec<u8>,
    },
    /// Mobile Node NAI (131), bytes as sent (RFC 2794: UTF-8).
    Nai(Vec<u8>),
    /// MN-FA Challenge (132).
    Challenge(Vec<u8>),
    /// Vendor specific (CVSE 38 when `critical`, NVSE 134 otherwise).
    Vendor {
        /// CVSE or NVSE.
        critical: bool,
        /// Vendor/Organization ID.
        vendor: u32,
        /// Vendor type.
        vtype: u16,
        /// Value.
        data: Vec<u8>,
    },
    /// Anything else, kept as received.
    Unknown {
        /// The type.
        kind: u8,
        /// The data after the short header.
        data: Vec<u8>,
    },
}

/// An extension and where it starts in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Offset of its Type byte from the start of the message.
    pub offset: usize,
    /// The extension.
    pub ext: Extension,
}

impl Extension {
    /// The Type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Extension::Pad => kind::PAD,
            Extension::Auth { kind, .. } | Extension::Unknown { kind, .. } => *kind,
            Extension::GenAuth { .. } => kind::GEN_AUTH,
            Extension::Nai(_) => kind::NAI,
            Extension::Challenge(_) => kind::MN_FA_CHALLENGE,
            Extension::Vendor { critical, .. } => {
                if *critical {
                    kind::CVSE
                } else {
                    kind::NVSE
                }
            }
        }
    }

    /// Bytes before the authenticator for the authentication extensions (Type, optional Subtype,
    /// Length, SPI): what the authenticator covers of its own extension.
    pub fn auth_header_len(&self) -> Option<usize> {
        match self {
            Extension::Auth { .. } => Some(6),
            Extension::GenAuth { .. } => Some(8),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        fn short(out: &mut Vec<u8>, k: u8, body: &[&[u8]], what: &'static str) -> Result<()> {
            let n: usize = body.iter().map(|b| b.len()).sum();
            let n = u8::try_from(n).map_err(|_| Error::TooLong(what))?;
            out.push(k);
            out.push(n);
            for b in body {
                out.extend_from_slice(b);
            }
            Ok(())
        }
        match self {
            Extension::Pad => {
                out.push(0);
                Ok(())
            }
            Extension::Auth {
                kind,
                spi,
                authenticator,
            } => short(
                out,
                *kind,
                &[&spi.to_be_bytes(), authenticator],
                "authentication extension",
            ),
            Extension::GenAuth {
                subtype,
                spi,
                authenticator,
            } => {
                let n = u16::try_from(4 + authenticator.len())
                    .map_err(|_| Error::TooLong("generalized authentication extension"))?;
                out.extend_from_slice(&[kind::GEN_AUTH, *subtype]);
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&spi.to_be_bytes());
                out.extend_from_slice(authenticator);
                Ok(())
            }
            Extension::Nai(n) => short(out, kind::NAI, &[n], "NAI"),
            Extension::Challenge(c) => short(out, kind::MN_FA_CHALLENGE, &[c], "MN-FA Challenge"),
            Extension::Vendor {
                critical: true,
                vendor,
                vtype,
                data,
            } => {
                let n = u16::try_from(6 + data.len()).map_err(|_| Error::TooLong("CVSE"))?;
                out.extend_from_slice(&[kind::CVSE, 0]);
                out.extend_from_slice(&n.to_be_bytes());
                out.extend_from_slice(&vendor.to_be_bytes());
                out.extend_from_slice(&vtype.to_be_bytes());
                out.extend_from_slice(data);
                Ok(())
            }
            Extension::Vendor {
                critical: false,
                vendor,
                vtype,
                data,
            } => short(
                out,
                kind::NVSE,
                &[&[0, 0], &vendor.to_be_bytes(), &vtype.to_be_bytes(), data],
                "NVSE",
            ),
            Extension::Unknown { kind, data } => short(out, *kind, &[data], "unknown extension"),
        }
    }

    /// The Previous Foreign Agent Notification (NVSE of [`VENDOR_PREV_FA`]).
    pub fn prev_fa(prev_fa: Ipv4Addr, lifetime: u16) -> Extension {
        let mut d = prev_fa.octets().to_vec();
        d.extend_from_slice(&lifetime.to_be_bytes());
        Extension::Vendor {
            critical: false,
            vendor: VENDOR_ID,
            vtype: VENDOR_PREV_FA,
            data: d,
        }
    }

    /// Reads a Previous Foreign Agent Notification: (previous FA, lifetime).
    pub fn as_prev_fa(&self) -> Option<Result<(Ipv4Addr, u16)>> {
        match self {
            Extension::Vendor {
                vendor: VENDOR_ID,
                vtype: VENDOR_PREV_FA,
                data,
                ..
            } => Some(if data.len() == 6 {
                Ok((v4(data, 0), u16_at(data, 4)))
            } else {
                Err(Error::Invalid(
                    "Previous FA Notification value is not 6 bytes",
                ))
            }),
            _ => None,
        }
    }

    /// The Service-Update request (NVSE of [`VENDOR_SERVICE_UPDATE`]).
    pub fn service_update() -> Extension {
        Extension::Vendor {
            critical: false,
            vendor: VENDOR_ID,
            vtype: VENDOR_SERVICE_UPDATE,
            data: Vec::new(),
        }
    }

    /// Whether this is the Service-Update request.
    pub fn is_service_update(&self) -> bool {
        matches!(
            self,
            Extension::Vendor {
                vendor: VENDOR_ID,
                vtype: VENDOR_SERVICE_UPDATE,
                ..
            }
        )
    }

    /// One VPN information profile (CVSE of [`VENDOR_VPN_PROFILE`]).
    pub fn vpn_profile(p: &VpnCacheProfile) -> Result<Extension> {
        let mut d = Vec::with_capacity(64);
        d.extend_from_slice(&p.profile_number.to_be_bytes());
        for a in [p.src.addr(), p.src.mask(), p.dst.addr(), p.dst.mask()] {
            d.extend_from_slice(&a.octets());
        }
        d.push(p.tos);
        d.push(match p.security {
            SecurityType::EncapsulationOnly => 0,
            SecurityType::Ah => 1,
            SecurityType::Esp => 2,
        });
        d.push(match p.dst_gw_type {
            GwType::Static => 0,
            GwType::Dynamic => 1,
        });
        d.push(0);
        d.extend_from_slice(&p.src_gw.octets());
        d.extend_from_slice(&p.dst_gw.octets());
        d.extend_from_slice(&p.up_spi.to_be_bytes());
        d.extend_from_slice(&p.down_spi.to_be_bytes());
        for k in [
            &p.keys.up_enc,
            &p.keys.down_enc,
            &p.keys.up_auth,
            &p.keys.down_auth,
        ] {
            let b = k.as_bytes();
            d.push(u8::try_from(b.len()).map_err(|_| Error::TooLong("VPN profile key"))?);
            d.extend_from_slice(b);
        }
        Ok(Extension::Vendor {
            critical: true,
            vendor: VENDOR_ID,
            vtype: VENDOR_VPN_PROFILE,
            data: d,
        })
    }

    /// Reads a VPN information profile.
    pub fn as_vpn_profile(&self) -> Option<Result<VpnCacheProfile>> {
        match self {
            Extension::Vendor {
                vendor: VENDOR_ID,
                vtype: VENDOR_VPN_PROFILE,
                data,
                ..
            } => Some(parse_vpn_profile(data)),
            _ => None,
        }
    }
}

const VPN_FIXED: usize = 40;

fn parse_vpn_profile(d: &[u8]) -> Result<VpnCacheProfile> {
    super::need("VPN profile", d, VPN_FIXED)?;
    let am = |a, m| {
        AddrMask::new(a, m).map_err(|_| Error::Invalid("VPN profile mask is not contiguous"))
    };
    let security = match d[21] {
        0 => SecurityType::EncapsulationOnly,
        1 => SecurityType::Ah,
        2 => SecurityType::Esp,
        _ => return Err(Error::Invalid("VPN profile security type is not 0, 1 or 2")),
    };
    let gw_type = match d[22] {
        0 => GwType::Static,
        1 => GwType::Dynamic,
        _ => return Err(Error::Invalid("VPN profile GW type is not 0 or 1")),
    };
    let mut at = VPN_FIXED;
    let mut keys: [KeyBytes; 4] = Default::default();
    for k in &mut keys {
        let n = *d
            .get(at)
            .ok_or(Error::Invalid("VPN profile: key length missing"))? as usize;
        let b = d
            .get(at + 1..at + 1 + n)
            .ok_or(Error::Invalid("VPN profile: key runs past the extension"))?;
        *k = KeyBytes::new(b.to_vec());
        at += 1 + n;
    }
    if at != d.len() {
        return Err(Error::Invalid("VPN profile: bytes after the keys"));
    }
    let [up_enc, down_enc, up_auth, down_auth] = keys;
    Ok(VpnCacheProfile {
        profile_number: u32_at(d, 0),
        src: am(v4(d, 4), v4(d, 8))?,
        dst: am(v4(d, 12), v4(d, 16))?,
        tos: d[20],
        security,
        src_gw: v4(d, 24),
        dst_gw: v4(d, 28),
        dst_gw_type: gw_type,
        up_spi: u32_at(d, 32),
        down_spi: u32_at(d, 36),
        keys: SaKeys {
            up_enc,
            down_enc,
            up_auth,
            down_auth,
        },
    })
}

/// Decodes the extensions in `msg[start..]`; offsets are from the start of `msg`.
pub fn parse_all(msg: &[u8], start: usize) -> Result<Vec<Located>> {
    let mut out = Vec::new();
    let mut at = start;
    while at < msg.len() {
        if out.len() >= MAX_EXTENSIONS {
            return Err(Error::TooManyExtensions(MAX_EXTENSIONS));
        }
        let (ext, len) = parse_one(msg, at)?;
        out.push(Located { offset: at, ext });
        at += len;
    }
    Ok(out)
}

/// Decodes the extension at `msg[at]`: the extension and its total length.
fn parse_one(msg: &[u8], at: usize) -> Result<(Extension, usize)> {
    let total = msg.len();
    let k = msg[at];
    if k == kind::PAD {
        return Ok((Extension::Pad, 1));
    }
    let long = k == kind::GEN_AUTH || k == kind::CVSE;
    let hdr = if long { 4 } else { 2 };
    if at + hdr > total {
        return Err(Error::ExtensionOverrun {
            kind: k,
            offset: at,
            len: 0,
            total,
        });
    }
    let len = if long {
        u16_at(msg, at + 2) as usize
    } else {
        msg[at + 1] as usize
    };
    let body = msg
        .get(at + hdr..at + hdr + len)
        .ok_or(Error::ExtensionOverrun {
            kind: k,
            offset: at,
            len,
            total,
        })?;
    let short = |min: usize| {
        if len < min {
            Err(Error::ExtensionTooShort {
                kind: k,
                offset: at,
                len,
                min,
            })
        } else {
            Ok(())
        }
    };
    let ext = match k {
        kind::MN_HA_AUTH | kind::MN_FA_AUTH | kind::FA_HA_AUTH | kind::RO_AUTH => {
            short(4)?;
            Extension::Auth {
                kind: k,
                spi: u32_at(body, 0),
                authenticator: body[4..].to_vec(),
            }
        }
        kind::GEN_AUTH => {
            short(4)?;
            Extension::GenAuth {
                subtype: msg[at + 1],
                spi: u32_at(body, 0),
                authenticator: body[4..].to_vec(),
            }
        }
        kind::CVSE => {
            short(6)?;
            Extension::Vendor {
                critical: true,
                vendor: u32_at(body, 0),
                vtype: u16_at(body, 4),
                data: body[6..].to_vec(),
            }
        }
        kind::NVSE => {
            short(8)?;
            Extension::Vendor {
                critical: false,
                vendor: u32_at(body, 2),
                vtype: u16_at(body, 6),
                data: body[8..].to_vec(),
            }
        }
        kind::NAI => {
            short(1)?;
            Extension::Nai(body.to_vec())
        }
        kind::MN_FA_CHALLENGE => {
            short(1)?;
            Extension::Challenge(body.to_vec())
        }
        _ => Extension::Unknown {
            kind: k,
            data: body.to_vec(),
        },
    };
    Ok((ext, hdr + len))
}
