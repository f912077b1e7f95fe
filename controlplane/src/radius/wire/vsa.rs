//! Vendor-Specific attributes (RFC 2865 §5.26) and the Microsoft ones (RFC 2548).
//!
//! ```text
//! | Type 26 | Length | Vendor-Id (4) | Vendor-Type | Vendor-Length | Value ...
//! ```
//!
//! Microsoft (vendor 311) VSAs use the recommended sub-attribute format; their
//! Vendor-Length is checked strictly (0 or 1, or a sub-attribute overrunning the VSA, is an
//! error: the shape of the accel-ppp VSA parsing CVE). Other vendors' VSAs are kept raw
//! ([`Vsa::Other`]) because not every vendor follows that format.

use std::net::Ipv4Addr;

use super::attribute::Value;
use super::{Error, Result};

/// Vendor-Id of Microsoft (SMI Network Management Private Enterprise Code).
pub const VENDOR_MICROSOFT: u32 = 311;

/// Microsoft vendor types (RFC 2548 §2).
pub mod ms {
    pub const CHAP_ERROR: u8 = 2;
    pub const CHAP_CHALLENGE: u8 = 11;
    pub const MPPE_SEND_KEY: u8 = 16;
    pub const MPPE_RECV_KEY: u8 = 17;
    pub const CHAP2_RESPONSE: u8 = 25;
    pub const CHAP2_SUCCESS: u8 = 26;
    pub const PRIMARY_DNS_SERVER: u8 = 28;
    pub const SECONDARY_DNS_SERVER: u8 = 29;
}

fn ms_name(kind: u8) -> &'static str {
    match kind {
        ms::CHAP_ERROR => "MS-CHAP-Error",
        ms::CHAP_CHALLENGE => "MS-CHAP-Challenge",
        ms::MPPE_SEND_KEY => "MS-MPPE-Send-Key",
        ms::MPPE_RECV_KEY => "MS-MPPE-Recv-Key",
        ms::CHAP2_RESPONSE => "MS-CHAP2-Response",
        ms::CHAP2_SUCCESS => "MS-CHAP2-Success",
        ms::PRIMARY_DNS_SERVER => "MS-Primary-DNS-Server",
        ms::SECONDARY_DNS_SERVER => "MS-Secondary-DNS-Server",
        _ => "unknown",
    }
}

/// MS-CHAP2-Response (RFC 2548 §2.3.2): Ident | Flags | Peer-Challenge (16) | Reserved (8) |
/// Response (24). The reserved bytes are sent as zeros and ignored on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChap2Response {
    pub ident: u8,
    pub flags: u8,
    pub peer_challenge: [u8; 16],
    pub nt_response: [u8; 24],
}

/// A Microsoft sub-attribute. Strings are raw: MS-CHAP2-Success and MS-CHAP-Error keep
/// their leading Ident byte; the MPPE keys keep their salt and encrypted form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsAttr {
    ChapError(Vec<u8>),
    ChapChallenge(Vec<u8>),
    MppeSendKey(Vec<u8>),
    MppeRecvKey(Vec<u8>),
    Chap2Response(MsChap2Response),
    Chap2Success(Vec<u8>),
    PrimaryDnsServer(Ipv4Addr),
    SecondaryDnsServer(Ipv4Addr),
    Unknown { kind: u8, data: Vec<u8> },
}

impl MsAttr {
    pub fn kind(&self) -> u8 {
        match self {
            MsAttr::ChapError(_) => ms::CHAP_ERROR,
            MsAttr::ChapChallenge(_) => ms::CHAP_CHALLENGE,
            MsAttr::MppeSendKey(_) => ms::MPPE_SEND_KEY,
            MsAttr::MppeRecvKey(_) => ms::MPPE_RECV_KEY,
            MsAttr::Chap2Response(_) => ms::CHAP2_RESPONSE,
            MsAttr::Chap2Success(_) => ms::CHAP2_SUCCESS,
            MsAttr::PrimaryDnsServer(_) => ms::PRIMARY_DNS_SERVER,
            MsAttr::SecondaryDnsServer(_) => ms::SECONDARY_DNS_SERVER,
            MsAttr::Unknown { kind, .. } => *kind,
        }
    }

    fn decode(kind: u8, d: &[u8]) -> Result<MsAttr> {
        let bad = |expected| Error::VsaBadLength {
            vendor: VENDOR_MICROSOFT,
            kind,
            name: ms_name(kind),
            len: d.len(),
            expected,
        };
        let ip = |d: &[u8]| -> Result<Ipv4Addr> {
            <[u8; 4]>::try_from(d)
                .map(Ipv4Addr::from)
                .map_err(|_| bad("4 (IPv4 address)"))
        };
        Ok(match kind {
            ms::CHAP_ERROR => MsAttr::ChapError(d.to_vec()),
            ms::CHAP_CHALLENGE => MsAttr::ChapChallenge(d.to_vec()),
            ms::MPPE_SEND_KEY => MsAttr::MppeSendKey(d.to_vec()),
            ms::MPPE_RECV_KEY => MsAttr::MppeRecvKey(d.to_vec()),
            ms::CHAP2_SUCCESS => MsAttr::Chap2Success(d.to_vec()),
            ms::PRIMARY_DNS_SERVER => MsAttr::PrimaryDnsServer(ip(d)?),
            ms::SECONDARY_DNS_SERVER => MsAttr::SecondaryDnsServer(ip(d)?),
            ms::CHAP2_RESPONSE => {
                if d.len() != 50 {
                    return Err(bad("50 (ident, flags, peer challenge, reserved, response)"));
                }
                let mut peer_challenge = [0u8; 16];
                peer_challenge.copy_from_slice(&d[2..18]);
                let mut nt_response = [0u8; 24];
                nt_response.copy_from_slice(&d[26..50]);
                MsAttr::Chap2Response(MsChap2Response {
                    ident: d[0],
                    flags: d[1],
                    peer_challenge,
                    nt_response,
                })
            }
            _ => MsAttr::Unknown {
                kind,
                data: d.to_vec(),
            },
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            MsAttr::ChapError(v)
            | MsAttr::ChapChallenge(v)
            | MsAttr::MppeSendKey(v)
            | MsAttr::MppeRecvKey(v)
            | MsAttr::Chap2Success(v)
            | MsAttr::Unknown { data: v, .. } => out.extend_from_slice(v),
            MsAttr::PrimaryDnsServer(a) | MsAttr::SecondaryDnsServer(a) => {
                out.extend_from_slice(&a.octets())
            }
            MsAttr::Chap2Response(r) => {
                out.push(r.ident);
                out.push(r.flags);
                out.extend_from_slice(&r.peer_challenge);
                out.extend_from_slice(&[0u8; 8]);
                out.extend_from_slice(&r.nt_response);
            }
        }
    }
}

/// The value of a Vendor-Specific attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vsa {
    /// Microsoft sub-attributes (usually one per VSA; RFC 2865 allows several).
    Microsoft(Vec<MsAttr>),
    /// Another vendor: the bytes after the Vendor-Id, unparsed.
    Other { vendor: u32, data: Vec<u8> },
}

impl Vsa {
    /// One Microsoft sub-attribute.
    pub fn ms(a: MsAttr) -> Vsa {
        Vsa::Microsoft(vec![a])
    }
}

impl Value for Vsa {
    fn decode(_: u8, d: &[u8]) -> Result<Self> {
        if d.len() < 4 {
            return Err(Error::VsaTooShort { len: d.len() });
        }
        let vendor = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        if vendor != VENDOR_MICROSOFT {
            return Ok(Vsa::Other {
                vendor,
                data: d[4..].to_vec(),
            });
        }
        let mut attrs = Vec::new();
        let mut at = 4;
        while at < d.len() {
            let rest = &d[at..];
            if rest.len() < 2 {
                return Err(Error::VsaTruncated {
                    vendor,
                    at,
                    left: rest.len(),
                });
            }
            let (kind, length) = (rest[0], usize::from(rest[1]));
            if length < 2 {
                return Err(Error::VsaSubTooShort {
                    vendor,
                    at,
                    kind,
                    length,
                });
            }
            if length > rest.len() {
                return Err(Error::VsaSubOverrun {
                    vendor,
                    at,
                    kind,
                    length,
                    left: rest.len(),
                });
            }
            attrs.push(MsAttr::decode(kind, &rest[2..length])?);
            at += length;
        }
        Ok(Vsa::Microsoft(attrs))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Vsa::Microsoft(attrs) => {
                out.extend_from_slice(&VENDOR_MICROSOFT.to_be_bytes());
                for a in attrs {
                    let start = out.len();
                    out.extend_from_slice(&[a.kind(), 0]);
                    a.encode(out);
                    // An over-long sub-attribute saturates; the packet encoder then refuses
                    // the whole attribute as too long (value > 253).
                    out[start + 1] = u8::try_from(out.len() - start).unwrap_or(u8::MAX);
                }
            }
            Vsa::Other { vendor, data } => {
                out.extend_from_slice(&vendor.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::radius::wire::{attr, Attribute};
    use proptest::prelude::*;

    pub(crate) fn any_ms() -> impl Strategy<Value = MsAttr> {
        let b = || proptest::collection::vec(any::<u8>(), 0..40);
        prop_oneof![
            b().prop_map(MsAttr::ChapError),
            b().prop_map(MsAttr::ChapChallenge),
            b().prop_map(MsAttr::MppeSendKey),
            b().prop_map(MsAttr::MppeRecvKey),
            b().prop_map(MsAttr::Chap2Success),
            any::<[u8; 4]>().prop_map(|a| MsAttr::PrimaryDnsServer(a.into())),
            any::<[u8; 4]>().prop_map(|a| MsAttr::SecondaryDnsServer(a.into())),
            (
                any::<u8>(),
                any::<u8>(),
                any::<[u8; 16]>(),
                any::<[u8; 24]>()
            )
                .prop_map(|(ident, flags, peer_challenge, nt_response)| {
                    MsAttr::Chap2Response(MsChap2Response {
                        ident,
                        flags,
                        peer_challenge,
                        nt_response,
                    })
                }),
            (30u8..=40, b()).prop_map(|(kind, data)| MsAttr::Unknown { kind, data }),
        ]
    }

    pub(crate) fn any_vsa() -> impl Strategy<Value = Vsa> {
        prop_oneof![
            proptest::collection::vec(any_ms(), 0..3).prop_map(Vsa::Microsoft),
            (
                any::<u32>().prop_filter("not Microsoft", |v| *v != VENDOR_MICROSOFT),
                proptest::collection::vec(any::<u8>(), 0..60)
            )
                .prop_map(|(vendor, data)| Vsa::Other { vendor, data }),
        ]
    }

    #[test]
    fn ms_chap2_response_layout() {
        // MS-CHAP2-Response as scapy 2.5 lays it out (RFC 2548 §2.3.2; built with
        // RadiusAttr_Vendor_Specific(vendor_id=311, vendor_type=25, value=...)): 26, 58,
        // 00 00 01 37, 25, 52, ident 0x2a, flags 0, peer challenge 0x11*16, 8 zero bytes,
        // NT-Response 0x22*24.
        let mut wire = vec![0x00, 0x00, 0x01, 0x37, 25, 52, 0x2a, 0x00];
        wire.extend_from_slice(&[0x11; 16]);
        wire.extend_from_slice(&[0; 8]);
        wire.extend_from_slice(&[0x22; 24]);
        let a = Attribute::decode(attr::VENDOR_SPECIFIC, &wire).unwrap();
        let expect = Attribute::VendorSpecific(Vsa::ms(MsAttr::Chap2Response(MsChap2Response {
            ident: 0x2a,
            flags: 0,
            peer_challenge: [0x11; 16],
            nt_response: [0x22; 24],
        })));
        assert_eq!(a, expect);
        let mut out = Vec::new();
        a.encode(&mut out);
        assert_eq!(out, wire);
    }

    #[test]
    fn ms_chap2_success_and_dns() {
        // MS-CHAP2-Success "\x2aS=<40 hex>" (RFC 2759 §5 authenticator response, ident first)
        // and MS-Primary-DNS-Server 192.0.2.53, two sub-attributes in one VSA.
        let mut wire = vec![0x00, 0x00, 0x01, 0x37, 26, 45, 0x2a];
        wire.extend_from_slice(b"S=0123456789ABCDEF0123456789ABCDEF01234567");
        wire.extend_from_slice(&[28, 6, 192, 0, 2, 53]);
        let a = Attribute::decode(attr::VENDOR_SPECIFIC, &wire).unwrap();
        let Attribute::VendorSpecific(Vsa::Microsoft(v)) = &a else {
            panic!("{a:?}")
        };
        assert_eq!(v.len(), 2);
        assert!(matches!(&v[0], MsAttr::Chap2Success(s) if s[0] == 0x2a && s.len() == 43));
        assert_eq!(
            v[1],
            MsAttr::PrimaryDnsServer("192.0.2.53".parse().unwrap())
        );
    }

    #[test]
    fn bad_vsa_lengths() {
        // No room for the Vendor-Id.
        assert_eq!(
            Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 1]).unwrap_err(),
            Error::VsaTooShort { len: 3 }
        );
        // accel-ppp CVE shape: vendor-length 0 and 1 (a naive walker loops or underflows).
        for l in [0u8, 1] {
            assert!(matches!(
                Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 1, 0x37, 26, l, 0, 0]),
                Err(Error::VsaSubTooShort {
                    vendor: 311,
                    at: 4,
                    kind: 26,
                    ..
                })
            ));
        }
        // Vendor-length overruns the VSA.
        assert_eq!(
            Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 1, 0x37, 26, 200, 0x2a, b'S'])
                .unwrap_err(),
            Error::VsaSubOverrun {
                vendor: 311,
                at: 4,
                kind: 26,
                length: 200,
                left: 4
            }
        );
        // A lone byte after a good sub-attribute.
        assert!(matches!(
            Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 1, 0x37, 26, 3, 1, 9]),
            Err(Error::VsaTruncated { at: 7, left: 1, .. })
        ));
        // Bad fixed lengths.
        assert!(matches!(
            Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 1, 0x37, 28, 5, 1, 2, 3]),
            Err(Error::VsaBadLength { kind: 28, .. })
        ));
        // Other vendors are kept raw, whatever their inner format.
        assert_eq!(
            Attribute::decode(attr::VENDOR_SPECIFIC, &[0, 0, 0x0d, 0xe9, 1, 0]).unwrap(),
            Attribute::VendorSpecific(Vsa::Other {
                vendor: 3561,
                data: vec![1, 0]
            })
        );
    }
}
