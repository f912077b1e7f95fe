//! RADIUS attributes: the dictionary of the attributes varouter uses, as typed values.
//!
//! Value types follow RFC 2865 §5 / RFC 8044: `integer` and `time` are [`u32`], `ipv4addr`
//! is [`Ipv4Addr`], `text` and `string` are bytes (text is UTF-8 by RFC but peers send
//! anything, so it is not checked here). Strings of length 0 are tolerated on parse.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::tunnel::{TaggedInt, TaggedString, TunnelPassword};
use super::vsa::Vsa;
use super::{Error, Result};

/// A decodable/encodable attribute value type.
pub(crate) trait Value: Sized {
    fn decode(kind: u8, d: &[u8]) -> Result<Self>;
    fn encode(&self, out: &mut Vec<u8>);
    /// Whether a value built in code (not decoded) can be encoded faithfully; `decode`
    /// never returns a value that fails this.
    fn check(&self, _kind: u8) -> Result<()> {
        Ok(())
    }
}

fn exact(kind: u8, d: &[u8], n: usize, expected: &'static str) -> Result<()> {
    if d.len() != n {
        return Err(Error::AttrBadLength {
            kind,
            name: attr_name(kind),
            len: d.len(),
            expected,
        });
    }
    Ok(())
}

impl Value for Vec<u8> {
    fn decode(_: u8, d: &[u8]) -> Result<Self> {
        Ok(d.to_vec())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Value for u32 {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        exact(kind, d, 4, "4 (integer)")?;
        Ok(u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl Value for Ipv4Addr {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        exact(kind, d, 4, "4 (IPv4 address)")?;
        Ok(Ipv4Addr::new(d[0], d[1], d[2], d[3]))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
}

impl Value for [u8; 16] {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        exact(kind, d, 16, "16")?;
        let mut a = [0u8; 16];
        a.copy_from_slice(d);
        Ok(a)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Value for [u8; 8] {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        exact(kind, d, 8, "8 (interface id)")?;
        let mut a = [0u8; 8];
        a.copy_from_slice(d);
        Ok(a)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// CHAP-Password (RFC 2865 §5.3): the CHAP identifier and the 16-byte MD5 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChapPassword {
    pub ident: u8,
    pub response: [u8; 16],
}

impl Value for ChapPassword {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        exact(kind, d, 17, "17 (CHAP ident + 16-byte response)")?;
        let mut response = [0u8; 16];
        response.copy_from_slice(&d[1..]);
        Ok(ChapPassword {
            ident: d[0],
            response,
        })
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.ident);
        out.extend_from_slice(&self.response);
    }
}

/// An IPv6 prefix (RFC 3162 §2.3, RFC 8044 §3.10: Reserved | Prefix-Length | Prefix).
/// Bits beyond the prefix length are cleared on parse; emit writes only the bytes the
/// length needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Prefix {
    pub addr: Ipv6Addr,
    pub len: u8,
}

impl Ipv6Prefix {
    /// The prefix with host bits cleared (`len` is capped at 128).
    pub fn new(addr: Ipv6Addr, len: u8) -> Self {
        let len = len.min(128);
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Ipv6Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        }
    }
}

impl Value for Ipv6Prefix {
    fn decode(kind: u8, d: &[u8]) -> Result<Self> {
        if d.len() < 2 || d.len() > 18 {
            return Err(Error::AttrBadLength {
                kind,
                name: attr_name(kind),
                len: d.len(),
                expected: "2..=18 (reserved, prefix length, prefix)",
            });
        }
        let len = d[1];
        if len > 128 {
            return Err(Error::AttrBadValue {
                kind,
                name: attr_name(kind),
                why: "prefix length above 128",
            });
        }
        if (d.len() - 2) * 8 < usize::from(len) {
            return Err(Error::AttrBadValue {
                kind,
                name: attr_name(kind),
                why: "fewer prefix bytes than the prefix length needs",
            });
        }
        let mut a = [0u8; 16];
        a[..d.len() - 2].copy_from_slice(&d[2..]);
        Ok(Ipv6Prefix::new(Ipv6Addr::from(a), len))
    }
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(0);
        out.push(self.len);
        let n = usize::from(self.len).div_ceil(8);
        out.extend_from_slice(&self.addr.octets()[..n]);
    }
}

macro_rules! dictionary {
    ($( $(#[$m:meta])* $konst:ident $name:ident = $code:literal : $ty:ty, $label:literal; )*) => {
        /// Attribute types of the dictionary (RFC 2865 §5, RFC 2866 §5, RFC 2868, RFC 2869,
        /// RFC 3162, RFC 3579, RFC 4818, RFC 5176).
        pub mod attr {
            $( pub const $konst: u8 = $code; )*
        }

        /// A decoded attribute. Every variant's value is as on the wire (User-Password is
        /// the hidden form; see [`super::crypto::unhide_password`]).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Attribute {
            $( $(#[$m])* $name($ty), )*
            /// An attribute not in the dictionary, kept as it came.
            Unknown { kind: u8, data: Vec<u8> },
        }

        /// Human name of an attribute type (error messages and logs).
        pub fn attr_name(kind: u8) -> &'static str {
            match kind {
                $( $code => $label, )*
                _ => "unknown",
            }
        }

        impl Attribute {
            /// Decodes the value `d` of an attribute of type `kind`.
            pub fn decode(kind: u8, d: &[u8]) -> Result<Attribute> {
                Ok(match kind {
                    $( $code => Attribute::$name(<$ty as Value>::decode(kind, d)?), )*
                    _ => Attribute::Unknown { kind, data: d.to_vec() },
                })
            }
            /// The attribute type.
            pub fn kind(&self) -> u8 {
                match self {
                    $( Attribute::$name(_) => $code, )*
                    Attribute::Unknown { kind, .. } => *kind,
                }
            }
            /// Whether the value can be encoded as it is (tags and 3-octet values of the
            /// tunnel attributes, Tunnel-Password salt and length); `Repr::to_bytes` calls it.
            pub fn check(&self) -> Result<()> {
                match self {
                    $( Attribute::$name(v) => v.check($code), )*
                    Attribute::Unknown { .. } => Ok(()),
                }
            }
            /// Appends the value bytes to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $( Attribute::$name(v) => v.encode(out), )*
                    Attribute::Unknown { data, .. } => out.extend_from_slice(data),
                }
            }
        }
    };
}

dictionary! {
    USER_NAME UserName = 1: Vec<u8>, "User-Name";
    /// Hidden form (RFC 2865 §5.2).
    USER_PASSWORD UserPassword = 2: Vec<u8>, "User-Password";
    CHAP_PASSWORD ChapPassword = 3: ChapPassword, "CHAP-Password";
    NAS_IP_ADDRESS NasIpAddress = 4: Ipv4Addr, "NAS-IP-Address";
    NAS_PORT NasPort = 5: u32, "NAS-Port";
    SERVICE_TYPE ServiceType = 6: u32, "Service-Type";
    FRAMED_PROTOCOL FramedProtocol = 7: u32, "Framed-Protocol";
    FRAMED_IP_ADDRESS FramedIpAddress = 8: Ipv4Addr, "Framed-IP-Address";
    FRAMED_IP_NETMASK FramedIpNetmask = 9: Ipv4Addr, "Framed-IP-Netmask";
    REPLY_MESSAGE ReplyMessage = 18: Vec<u8>, "Reply-Message";
    STATE State = 24: Vec<u8>, "State";
    CLASS Class = 25: Vec<u8>, "Class";
    VENDOR_SPECIFIC VendorSpecific = 26: Vsa, "Vendor-Specific";
    SESSION_TIMEOUT SessionTimeout = 27: u32, "Session-Timeout";
    IDLE_TIMEOUT IdleTimeout = 28: u32, "Idle-Timeout";
    TERMINATION_ACTION TerminationAction = 29: u32, "Termination-Action";
    CALLED_STATION_ID CalledStationId = 30: Vec<u8>, "Called-Station-Id";
    CALLING_STATION_ID CallingStationId = 31: Vec<u8>, "Calling-Station-Id";
    NAS_IDENTIFIER NasIdentifier = 32: Vec<u8>, "NAS-Identifier";
    ACCT_STATUS_TYPE AcctStatusType = 40: u32, "Acct-Status-Type";
    ACCT_DELAY_TIME AcctDelayTime = 41: u32, "Acct-Delay-Time";
    ACCT_INPUT_OCTETS AcctInputOctets = 42: u32, "Acct-Input-Octets";
    ACCT_OUTPUT_OCTETS AcctOutputOctets = 43: u32, "Acct-Output-Octets";
    ACCT_SESSION_ID AcctSessionId = 44: Vec<u8>, "Acct-Session-Id";
    ACCT_AUTHENTIC AcctAuthentic = 45: u32, "Acct-Authentic";
    ACCT_SESSION_TIME AcctSessionTime = 46: u32, "Acct-Session-Time";
    ACCT_INPUT_PACKETS AcctInputPackets = 47: u32, "Acct-Input-Packets";
    ACCT_OUTPUT_PACKETS AcctOutputPackets = 48: u32, "Acct-Output-Packets";
    ACCT_TERMINATE_CAUSE AcctTerminateCause = 49: u32, "Acct-Terminate-Cause";
    ACCT_INPUT_GIGAWORDS AcctInputGigawords = 52: u32, "Acct-Input-Gigawords";
    ACCT_OUTPUT_GIGAWORDS AcctOutputGigawords = 53: u32, "Acct-Output-Gigawords";
    EVENT_TIMESTAMP EventTimestamp = 55: u32, "Event-Timestamp";
    CHAP_CHALLENGE ChapChallenge = 60: Vec<u8>, "CHAP-Challenge";
    NAS_PORT_TYPE NasPortType = 61: u32, "NAS-Port-Type";
    TUNNEL_TYPE TunnelType = 64: TaggedInt, "Tunnel-Type";
    TUNNEL_MEDIUM_TYPE TunnelMediumType = 65: TaggedInt, "Tunnel-Medium-Type";
    TUNNEL_CLIENT_ENDPOINT TunnelClientEndpoint = 66: TaggedString, "Tunnel-Client-Endpoint";
    TUNNEL_SERVER_ENDPOINT TunnelServerEndpoint = 67: TaggedString, "Tunnel-Server-Endpoint";
    /// Salted and encrypted (RFC 2868 §3.5; see [`TunnelPassword::decrypt`]).
    TUNNEL_PASSWORD TunnelPassword = 69: TunnelPassword, "Tunnel-Password";
    MESSAGE_AUTHENTICATOR MessageAuthenticator = 80: [u8; 16], "Message-Authenticator";
    TUNNEL_PRIVATE_GROUP_ID TunnelPrivateGroupId = 81: TaggedString, "Tunnel-Private-Group-ID";
    TUNNEL_ASSIGNMENT_ID TunnelAssignmentId = 82: TaggedString, "Tunnel-Assignment-ID";
    TUNNEL_PREFERENCE TunnelPreference = 83: TaggedInt, "Tunnel-Preference";
    ACCT_INTERIM_INTERVAL AcctInterimInterval = 85: u32, "Acct-Interim-Interval";
    NAS_PORT_ID NasPortId = 87: Vec<u8>, "NAS-Port-Id";
    FRAMED_POOL FramedPool = 88: Vec<u8>, "Framed-Pool";
    TUNNEL_CLIENT_AUTH_ID TunnelClientAuthId = 90: TaggedString, "Tunnel-Client-Auth-ID";
    TUNNEL_SERVER_AUTH_ID TunnelServerAuthId = 91: TaggedString, "Tunnel-Server-Auth-ID";
    FRAMED_INTERFACE_ID FramedInterfaceId = 96: [u8; 8], "Framed-Interface-Id";
    FRAMED_IPV6_PREFIX FramedIpv6Prefix = 97: Ipv6Prefix, "Framed-IPv6-Prefix";
    ERROR_CAUSE ErrorCause = 101: u32, "Error-Cause";
    DELEGATED_IPV6_PREFIX DelegatedIpv6Prefix = 123: Ipv6Prefix, "Delegated-IPv6-Prefix";
}

impl Attribute {
    /// Length of the encoded value.
    pub fn value_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

/// Values of enumerated attributes used by the client and the DAE server.
pub mod values {
    /// Service-Type Framed (RFC 2865 §5.6).
    pub const SERVICE_TYPE_FRAMED: u32 = 2;
    /// Service-Type Authorize-Only (RFC 5176 §3.2).
    pub const SERVICE_TYPE_AUTHORIZE_ONLY: u32 = 17;
    /// Framed-Protocol PPP (RFC 2865 §5.7).
    pub const FRAMED_PROTOCOL_PPP: u32 = 1;
    /// NAS-Port-Type Virtual (RFC 2865 §5.41; L2TP/PPPoE sessions).
    pub const NAS_PORT_TYPE_VIRTUAL: u32 = 5;
    /// NAS-Port-Type Ethernet (RFC 2865 §5.41, value 15): PPPoE.
    pub const NAS_PORT_TYPE_ETHERNET: u32 = 15;
    /// Acct-Authentic RADIUS (RFC 2866 §5.6).
    pub const ACCT_AUTHENTIC_RADIUS: u32 = 1;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::radius::wire::vsa::tests::any_vsa;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    /// Every attribute kind with valid values.
    pub(crate) fn any_attribute() -> impl Strategy<Value = Attribute> {
        prop_oneof![
            (1u8..=255, bytes(60)).prop_map(|(k, d)| Attribute::decode(k, &d)
                .unwrap_or(Attribute::Unknown { kind: 200, data: d })),
            bytes(60).prop_map(Attribute::UserName),
            any::<u32>().prop_map(Attribute::NasPort),
            any::<[u8; 4]>().prop_map(|a| Attribute::FramedIpAddress(a.into())),
            (any::<u8>(), any::<[u8; 16]>()).prop_map(|(ident, response)| Attribute::ChapPassword(
                ChapPassword { ident, response }
            )),
            any::<[u8; 16]>().prop_map(Attribute::MessageAuthenticator),
            any::<[u8; 8]>().prop_map(Attribute::FramedInterfaceId),
            (any::<[u8; 16]>(), 0u8..=128)
                .prop_map(|(a, l)| Attribute::DelegatedIpv6Prefix(Ipv6Prefix::new(a.into(), l))),
            any_vsa().prop_map(Attribute::VendorSpecific),
            crate::radius::wire::tunnel::tests::any_tunnel_attribute(),
            (102u8..=120, bytes(40)).prop_map(|(kind, data)| Attribute::Unknown { kind, data }),
        ]
    }

    #[test]
    fn bad_value_lengths() {
        assert!(matches!(
            Attribute::decode(attr::NAS_PORT, &[0, 0, 1]),
            Err(Error::AttrBadLength { kind: 5, .. })
        ));
        assert!(matches!(
            Attribute::decode(attr::CHAP_PASSWORD, &[1; 16]),
            Err(Error::AttrBadLength { kind: 3, .. })
        ));
        assert!(matches!(
            Attribute::decode(attr::FRAMED_IPV6_PREFIX, &[0, 129]),
            Err(Error::AttrBadValue { .. })
        ));
        assert!(matches!(
            Attribute::decode(attr::FRAMED_IPV6_PREFIX, &[0, 64, 0x20, 1]),
            Err(Error::AttrBadValue { .. })
        ));
        assert!(matches!(
            Attribute::decode(attr::MESSAGE_AUTHENTICATOR, &[0; 15]),
            Err(Error::AttrBadLength { kind: 80, .. })
        ));
    }

    #[test]
    fn ipv6_prefix() {
        // Delegated-IPv6-Prefix 2001:db8:1200::/40 as FreeRADIUS 3.2 sends it (reserved 0,
        // length 40, 5 prefix bytes), and the full-16-byte form older servers send.
        let short = [0u8, 40, 0x20, 0x01, 0x0d, 0xb8, 0x12];
        let a = Attribute::decode(attr::DELEGATED_IPV6_PREFIX, &short).unwrap();
        let p = Ipv6Prefix::new("2001:db8:1200::".parse().unwrap(), 40);
        assert_eq!(a, Attribute::DelegatedIpv6Prefix(p));
        let mut long = vec![0u8, 40, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0xff];
        long.resize(18, 0);
        assert_eq!(
            Attribute::decode(attr::DELEGATED_IPV6_PREFIX, &long).unwrap(),
            a
        );
        let mut out = Vec::new();
        a.encode(&mut out);
        assert_eq!(out, short);
    }

    proptest! {
        #[test]
        fn value_round_trip(a in any_attribute()) {
            let mut v = Vec::new();
            a.encode(&mut v);
            prop_assert_eq!(Attribute::decode(a.kind(), &v).unwrap(), a);
        }

        #[test]
        fn decode_never_panics(kind in any::<u8>(), d in bytes(300)) {
            let _ = Attribute::decode(kind, &d);
        }
    }
}
