//! LCP, IPCP and IPV6CP packets (RFC 1661 §5, RFC 1332, RFC 1877, RFC 5072) and their
//! configuration options.
//!
//! ```text
//! | Code | Identifier |    Length     | Data ...            (packet, RFC 1661 §5)
//! | Type |  Length    | Data ...                            (option, RFC 1661 §6)
//! ```

use std::net::Ipv4Addr;

use super::{begin, finish, Error, Packet, Result};

/// Option header length (type, length).
pub const OPTION_HEADER_LEN: usize = 2;

/// Walks the options of a Configure-* packet: yields `(offset, kind, data)` or the first
/// TLV error (length 0/1, overrun), after which it stops.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    data: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> OptionIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        OptionIter {
            data,
            at: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<(usize, u8, &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.data.len() {
            return None;
        }
        let at = self.at;
        let rest = &self.data[at..];
        let err = if rest.len() < OPTION_HEADER_LEN {
            Error::OptionTruncated {
                at,
                left: rest.len(),
            }
        } else {
            let length = usize::from(rest[1]);
            if length < OPTION_HEADER_LEN {
                Error::OptionTooShort { at, length }
            } else if length > rest.len() {
                Error::OptionOverrun {
                    at,
                    length,
                    left: rest.len(),
                }
            } else {
                self.at += length;
                return Some(Ok((at, rest[0], &rest[OPTION_HEADER_LEN..length])));
            }
        };
        self.failed = true;
        Some(Err(err))
    }
}

/// A configuration option type of one control protocol.
pub trait CpOption: Sized + Clone + PartialEq + core::fmt::Debug {
    /// Whether the protocol has LCP's extra codes 8–11 (Protocol-Reject, Echo, Discard).
    const LCP_CODES: bool;
    /// Decodes one option; never fails (unknown or odd-length options become `Unknown`).
    fn decode(kind: u8, data: &[u8]) -> Self;
    /// Option type.
    fn kind(&self) -> u8;
    /// Appends the option value (without the 2-byte header).
    fn encode_value(&self, out: &mut Vec<u8>);

    /// Appends the whole option (header + value).
    fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = out.len();
        out.extend_from_slice(&[self.kind(), 0]);
        self.encode_value(out);
        let len = out.len() - at;
        out[at + 1] = u8::try_from(len).map_err(|_| Error::TooLong { len, max: 255 })?;
        Ok(())
    }
    /// Parses a whole option list.
    fn parse_list(data: &[u8]) -> Result<Vec<Self>> {
        OptionIter::new(data)
            .map(|r| r.map(|(_, k, d)| Self::decode(k, d)))
            .collect()
    }
}

fn be16(d: &[u8]) -> u16 {
    u16::from_be_bytes([d[0], d[1]])
}
fn be32(d: &[u8]) -> u32 {
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// LCP configuration options (RFC 1661 §6, RFC 1570 for nothing else yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LcpOption {
    /// 1: Maximum-Receive-Unit.
    Mru(u16),
    /// 2: Async-Control-Character-Map.
    Accm(u32),
    /// 3: Authentication-Protocol with its protocol-specific data (CHAP: the algorithm).
    AuthProtocol {
        protocol: u16,
        data: Vec<u8>,
    },
    /// 5: Magic-Number.
    MagicNumber(u32),
    /// 7: Protocol-Field-Compression.
    Pfc,
    /// 8: Address-and-Control-Field-Compression.
    Acfc,
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

impl LcpOption {
    pub const MRU: u8 = 1;
    pub const ACCM: u8 = 2;
    pub const AUTH_PROTOCOL: u8 = 3;
    pub const MAGIC_NUMBER: u8 = 5;
    pub const PFC: u8 = 7;
    pub const ACFC: u8 = 8;
}

impl CpOption for LcpOption {
    const LCP_CODES: bool = true;
    fn decode(kind: u8, d: &[u8]) -> Self {
        match (kind, d.len()) {
            (Self::MRU, 2) => LcpOption::Mru(be16(d)),
            (Self::ACCM, 4) => LcpOption::Accm(be32(d)),
            (Self::AUTH_PROTOCOL, n) if n >= 2 => LcpOption::AuthProtocol {
                protocol: be16(d),
                data: d[2..].to_vec(),
            },
            (Self::MAGIC_NUMBER, 4) => LcpOption::MagicNumber(be32(d)),
            (Self::PFC, 0) => LcpOption::Pfc,
            (Self::ACFC, 0) => LcpOption::Acfc,
            _ => LcpOption::Unknown {
                kind,
                data: d.to_vec(),
            },
        }
    }
    fn kind(&self) -> u8 {
        match self {
            LcpOption::Mru(_) => Self::MRU,
            LcpOption::Accm(_) => Self::ACCM,
            LcpOption::AuthProtocol { .. } => Self::AUTH_PROTOCOL,
            LcpOption::MagicNumber(_) => Self::MAGIC_NUMBER,
            LcpOption::Pfc => Self::PFC,
            LcpOption::Acfc => Self::ACFC,
            LcpOption::Unknown { kind, .. } => *kind,
        }
    }
    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            LcpOption::Mru(v) => out.extend_from_slice(&v.to_be_bytes()),
            LcpOption::Accm(v) | LcpOption::MagicNumber(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            LcpOption::AuthProtocol { protocol, data } => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
            }
            LcpOption::Pfc | LcpOption::Acfc => {}
            LcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// IPCP configuration options (RFC 1332 §3, RFC 1877 §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcpOption {
    /// 2: IP-Compression-Protocol (never accepted by this engine).
    IpCompression {
        protocol: u16,
        data: Vec<u8>,
    },
    /// 3: IP-Address.
    IpAddress(Ipv4Addr),
    /// 129: Primary DNS Server Address.
    PrimaryDns(Ipv4Addr),
    /// 131: Secondary DNS Server Address.
    SecondaryDns(Ipv4Addr),
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

impl IpcpOption {
    pub const IP_COMPRESSION: u8 = 2;
    pub const IP_ADDRESS: u8 = 3;
    pub const PRIMARY_DNS: u8 = 129;
    pub const SECONDARY_DNS: u8 = 131;
}

impl CpOption for IpcpOption {
    const LCP_CODES: bool = false;
    fn decode(kind: u8, d: &[u8]) -> Self {
        let addr = |d: &[u8]| Ipv4Addr::from(be32(d));
        match (kind, d.len()) {
            (Self::IP_COMPRESSION, n) if n >= 2 => IpcpOption::IpCompression {
                protocol: be16(d),
                data: d[2..].to_vec(),
            },
            (Self::IP_ADDRESS, 4) => IpcpOption::IpAddress(addr(d)),
            (Self::PRIMARY_DNS, 4) => IpcpOption::PrimaryDns(addr(d)),
            (Self::SECONDARY_DNS, 4) => IpcpOption::SecondaryDns(addr(d)),
            _ => IpcpOption::Unknown {
                kind,
                data: d.to_vec(),
            },
        }
    }
    fn kind(&self) -> u8 {
        match self {
            IpcpOption::IpCompression { .. } => Self::IP_COMPRESSION,
            IpcpOption::IpAddress(_) => Self::IP_ADDRESS,
            IpcpOption::PrimaryDns(_) => Self::PRIMARY_DNS,
            IpcpOption::SecondaryDns(_) => Self::SECONDARY_DNS,
            IpcpOption::Unknown { kind, .. } => *kind,
        }
    }
    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            IpcpOption::IpCompression { protocol, data } => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
            }
            IpcpOption::IpAddress(a) | IpcpOption::PrimaryDns(a) | IpcpOption::SecondaryDns(a) => {
                out.extend_from_slice(&a.octets())
            }
            IpcpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// IPV6CP configuration options (RFC 5072 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6cpOption {
    /// 1: Interface-Identifier.
    InterfaceId(u64),
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

impl Ipv6cpOption {
    pub const INTERFACE_ID: u8 = 1;
}

impl CpOption for Ipv6cpOption {
    const LCP_CODES: bool = false;
    fn decode(kind: u8, d: &[u8]) -> Self {
        match (kind, d.len()) {
            (Self::INTERFACE_ID, 8) => {
                let mut b = [0; 8];
                b.copy_from_slice(d);
                Ipv6cpOption::InterfaceId(u64::from_be_bytes(b))
            }
            _ => Ipv6cpOption::Unknown {
                kind,
                data: d.to_vec(),
            },
        }
    }
    fn kind(&self) -> u8 {
        match self {
            Ipv6cpOption::InterfaceId(_) => Self::INTERFACE_ID,
            Ipv6cpOption::Unknown { kind, .. } => *kind,
        }
    }
    fn encode_value(&self, out: &mut Vec<u8>) {
        match self {
            Ipv6cpOption::InterfaceId(v) => out.extend_from_slice(&v.to_be_bytes()),
            Ipv6cpOption::Unknown { data, .. } => out.extend_from_slice(data),
        }
    }
}

/// The body of an LCP/IPCP/IPV6CP packet, by code (RFC 1661 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpData<O> {
    ConfigureRequest(Vec<O>),
    ConfigureAck(Vec<O>),
    ConfigureNak(Vec<O>),
    ConfigureReject(Vec<O>),
    TerminateRequest(Vec<u8>),
    TerminateAck(Vec<u8>),
    /// The rejected packet (its beginning), as received.
    CodeReject(Vec<u8>),
    /// LCP only: the rejected protocol and the start of its information field.
    ProtocolReject {
        protocol: u16,
        data: Vec<u8>,
    },
    /// LCP only.
    EchoRequest {
        magic: u32,
        data: Vec<u8>,
    },
    /// LCP only.
    EchoReply {
        magic: u32,
        data: Vec<u8>,
    },
    /// LCP only.
    DiscardRequest {
        magic: u32,
        data: Vec<u8>,
    },
    /// A code this protocol does not have (answered with Code-Reject).
    Unknown {
        code: u8,
        data: Vec<u8>,
    },
}

/// Codes of RFC 1661 §5.
pub mod code {
    pub const CONFIGURE_REQUEST: u8 = 1;
    pub const CONFIGURE_ACK: u8 = 2;
    pub const CONFIGURE_NAK: u8 = 3;
    pub const CONFIGURE_REJECT: u8 = 4;
    pub const TERMINATE_REQUEST: u8 = 5;
    pub const TERMINATE_ACK: u8 = 6;
    pub const CODE_REJECT: u8 = 7;
    pub const PROTOCOL_REJECT: u8 = 8;
    pub const ECHO_REQUEST: u8 = 9;
    pub const ECHO_REPLY: u8 = 10;
    pub const DISCARD_REQUEST: u8 = 11;
}

/// An LCP, IPCP or IPV6CP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpRepr<O> {
    pub identifier: u8,
    pub data: CpData<O>,
}

impl<O: CpOption> CpRepr<O> {
    /// Parses a checked packet. Codes the protocol does not have become [`CpData::Unknown`].
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        use code::*;
        let d = p.data();
        let magic_data = |what| {
            if d.len() < 4 {
                return Err(Error::BadLength {
                    what,
                    len: d.len(),
                    expected: "at least 4 (magic number)",
                });
            }
            Ok((be32(d), d[4..].to_vec()))
        };
        let data = match p.code() {
            CONFIGURE_REQUEST => CpData::ConfigureRequest(O::parse_list(d)?),
            CONFIGURE_ACK => CpData::ConfigureAck(O::parse_list(d)?),
            CONFIGURE_NAK => CpData::ConfigureNak(O::parse_list(d)?),
            CONFIGURE_REJECT => CpData::ConfigureReject(O::parse_list(d)?),
            TERMINATE_REQUEST => CpData::TerminateRequest(d.to_vec()),
            TERMINATE_ACK => CpData::TerminateAck(d.to_vec()),
            CODE_REJECT => CpData::CodeReject(d.to_vec()),
            PROTOCOL_REJECT if O::LCP_CODES => {
                if d.len() < 2 {
                    return Err(Error::BadLength {
                        what: "Protocol-Reject",
                        len: d.len(),
                        expected: "at least 2 (rejected protocol)",
                    });
                }
                CpData::ProtocolReject {
                    protocol: be16(d),
                    data: d[2..].to_vec(),
                }
            }
            ECHO_REQUEST if O::LCP_CODES => {
                let (magic, data) = magic_data("Echo-Request")?;
                CpData::EchoRequest { magic, data }
            }
            ECHO_REPLY if O::LCP_CODES => {
                let (magic, data) = magic_data("Echo-Reply")?;
                CpData::EchoReply { magic, data }
            }
            DISCARD_REQUEST if O::LCP_CODES => {
                let (magic, data) = magic_data("Discard-Request")?;
                CpData::DiscardRequest { magic, data }
            }
            code => CpData::Unknown {
                code,
                data: d.to_vec(),
            },
        };
        Ok(CpRepr {
            identifier: p.identifier(),
            data,
        })
    }

    /// Parses a packet from bytes (header included).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    /// The code of this packet.
    pub fn code(&self) -> u8 {
        use code::*;
        match &self.data {
            CpData::ConfigureRequest(_) => CONFIGURE_REQUEST,
            CpData::ConfigureAck(_) => CONFIGURE_ACK,
            CpData::ConfigureNak(_) => CONFIGURE_NAK,
            CpData::ConfigureReject(_) => CONFIGURE_REJECT,
            CpData::TerminateRequest(_) => TERMINATE_REQUEST,
            CpData::TerminateAck(_) => TERMINATE_ACK,
            CpData::CodeReject(_) => CODE_REJECT,
            CpData::ProtocolReject { .. } => PROTOCOL_REJECT,
            CpData::EchoRequest { .. } => ECHO_REQUEST,
            CpData::EchoReply { .. } => ECHO_REPLY,
            CpData::DiscardRequest { .. } => DISCARD_REQUEST,
            CpData::Unknown { code, .. } => *code,
        }
    }

    /// Appends the packet (header included) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = begin(out, self.code(), self.identifier);
        match &self.data {
            CpData::ConfigureRequest(o)
            | CpData::ConfigureAck(o)
            | CpData::ConfigureNak(o)
            | CpData::ConfigureReject(o) => {
                for opt in o {
                    opt.emit(out)?;
                }
            }
            CpData::TerminateRequest(d)
            | CpData::TerminateAck(d)
            | CpData::CodeReject(d)
            | CpData::Unknown { data: d, .. } => out.extend_from_slice(d),
            CpData::ProtocolReject { protocol, data } => {
                out.extend_from_slice(&protocol.to_be_bytes());
                out.extend_from_slice(data);
            }
            CpData::EchoRequest { magic, data }
            | CpData::EchoReply { magic, data }
            | CpData::DiscardRequest { magic, data } => {
                out.extend_from_slice(&magic.to_be_bytes());
                out.extend_from_slice(data);
            }
        }
        finish(out, at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_lcp(b: &[u8]) -> Result<CpRepr<LcpOption>> {
        CpRepr::parse_bytes(b)
    }

    // LCP Configure-Request from scapy:
    // python3 -c 'from scapy.all import *; print(bytes(PPP_LCP_Configure(code=1,id=1,
    //   options=[PPP_LCP_MRU_Option(max_recv_unit=1492),PPP_LCP_Auth_Protocol_Option(auth_protocol=0xc223,algorithm=5),
    //   PPP_LCP_Magic_Number_Option(magic_number=0x1a2b3c4d)])).hex())'
    const LCP_CONFREQ: [u8; 19] = [
        0x01, 0x01, 0x00, 0x13, 0x01, 0x04, 0x05, 0xd4, 0x03, 0x05, 0xc2, 0x23, 0x05, 0x05, 0x06,
        0x1a, 0x2b, 0x3c, 0x4d,
    ];

    #[test]
    fn lcp_configure_request_real_bytes() {
        let r = parse_lcp(&LCP_CONFREQ).unwrap();
        assert_eq!(
            r,
            CpRepr {
                identifier: 1,
                data: CpData::ConfigureRequest(vec![
                    LcpOption::Mru(1492),
                    LcpOption::AuthProtocol {
                        protocol: 0xc223,
                        data: vec![5]
                    },
                    LcpOption::MagicNumber(0x1a2b3c4d),
                ])
            }
        );
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, LCP_CONFREQ);
        // The Configure-Ack is the same packet with code 2.
        let mut ack = LCP_CONFREQ;
        ack[0] = 2;
        let a = parse_lcp(&ack).unwrap();
        assert!(matches!(a.data, CpData::ConfigureAck(ref o) if o.len() == 3));
    }

    // IPCP Configure-Request asking for an address and both DNS servers, from scapy:
    // python3 -c 'from scapy.all import *; print(bytes(PPP_IPCP(code=1,id=7,options=[
    //   PPP_IPCP_Option_IPAddress(data="0.0.0.0"),PPP_IPCP_Option_DNS1(data="0.0.0.0"),
    //   PPP_IPCP_Option_DNS2(data="0.0.0.0")])).hex())'
    const IPCP_CONFREQ: [u8; 22] = [
        0x01, 0x07, 0x00, 0x16, 0x03, 0x06, 0, 0, 0, 0, 0x81, 0x06, 0, 0, 0, 0, 0x83, 0x06, 0, 0,
        0, 0,
    ];

    #[test]
    fn ipcp_configure_request_real_bytes() {
        let r: CpRepr<IpcpOption> = CpRepr::parse_bytes(&IPCP_CONFREQ).unwrap();
        let z = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            r.data,
            CpData::ConfigureRequest(vec![
                IpcpOption::IpAddress(z),
                IpcpOption::PrimaryDns(z),
                IpcpOption::SecondaryDns(z)
            ])
        );
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, IPCP_CONFREQ);
    }

    #[test]
    fn option_tlv_errors() {
        // length 0, length 1, overrun, lone type byte
        for (bytes, want) in [
            (
                &[1u8, 1, 0, 6, 1, 0][..],
                Error::OptionTooShort { at: 0, length: 0 },
            ),
            (
                &[1, 1, 0, 6, 1, 1],
                Error::OptionTooShort { at: 0, length: 1 },
            ),
            (
                &[1, 1, 0, 8, 5, 6, 0, 0],
                Error::OptionOverrun {
                    at: 0,
                    length: 6,
                    left: 4,
                },
            ),
            (
                &[1, 1, 0, 9, 7, 2, 8, 2, 3],
                Error::OptionTruncated { at: 4, left: 1 },
            ),
        ] {
            assert_eq!(parse_lcp(bytes).unwrap_err(), want, "{bytes:?}");
        }
        // Known option with the wrong length is kept as Unknown (so it can be rejected).
        let r = parse_lcp(&[1, 1, 0, 7, 1, 3, 5]).unwrap();
        assert_eq!(
            r.data,
            CpData::ConfigureRequest(vec![LcpOption::Unknown {
                kind: 1,
                data: vec![5]
            }])
        );
    }

    #[test]
    fn lcp_only_codes() {
        let echo = [9u8, 3, 0, 10, 1, 2, 3, 4, 0xaa, 0xbb];
        assert_eq!(
            parse_lcp(&echo).unwrap().data,
            CpData::EchoRequest {
                magic: 0x01020304,
                data: vec![0xaa, 0xbb]
            }
        );
        let r: CpRepr<IpcpOption> = CpRepr::parse_bytes(&echo).unwrap();
        assert!(matches!(r.data, CpData::Unknown { code: 9, .. }));
        assert!(parse_lcp(&[9, 3, 0, 6, 1, 2]).is_err());
        assert!(parse_lcp(&[8, 3, 0, 5, 1]).is_err());
        assert_eq!(
            parse_lcp(&[8, 3, 0, 8, 0x80, 0xfd, 1, 2]).unwrap().data,
            CpData::ProtocolReject {
                protocol: 0x80fd,
                data: vec![1, 2]
            }
        );
    }

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
        proptest::collection::vec(any::<u8>(), 0..max)
    }
    fn lcp_opt() -> impl Strategy<Value = LcpOption> + Clone {
        prop_oneof![
            any::<u16>().prop_map(LcpOption::Mru),
            any::<u32>().prop_map(LcpOption::Accm),
            (any::<u16>(), bytes(8))
                .prop_map(|(protocol, data)| LcpOption::AuthProtocol { protocol, data }),
            any::<u32>().prop_map(LcpOption::MagicNumber),
            Just(LcpOption::Pfc),
            Just(LcpOption::Acfc),
            (prop_oneof![Just(4u8), 9u8..=255], bytes(10))
                .prop_map(|(kind, data)| LcpOption::Unknown { kind, data }),
        ]
    }
    fn ipcp_opt() -> impl Strategy<Value = IpcpOption> + Clone {
        prop_oneof![
            (any::<u16>(), bytes(8))
                .prop_map(|(protocol, data)| IpcpOption::IpCompression { protocol, data }),
            any::<u32>().prop_map(|a| IpcpOption::IpAddress(a.into())),
            any::<u32>().prop_map(|a| IpcpOption::PrimaryDns(a.into())),
            any::<u32>().prop_map(|a| IpcpOption::SecondaryDns(a.into())),
            (
                prop_oneof![Just(1u8), 4u8..=128, Just(130u8), 132u8..=255],
                bytes(10)
            )
                .prop_map(|(kind, data)| IpcpOption::Unknown { kind, data }),
        ]
    }
    fn ipv6cp_opt() -> impl Strategy<Value = Ipv6cpOption> + Clone {
        prop_oneof![
            any::<u64>().prop_map(Ipv6cpOption::InterfaceId),
            (2u8..=255, bytes(10)).prop_map(|(kind, data)| Ipv6cpOption::Unknown { kind, data }),
        ]
    }
    fn cp_data<O: CpOption + 'static>(
        opt: impl Strategy<Value = O> + Clone + 'static,
        lcp: bool,
    ) -> impl Strategy<Value = CpData<O>> {
        let list = proptest::collection::vec(opt, 0..5);
        let lcp_only = if lcp { 8u8 } else { 12u8 };
        prop_oneof![
            list.clone().prop_map(CpData::ConfigureRequest),
            list.clone().prop_map(CpData::ConfigureAck),
            list.clone().prop_map(CpData::ConfigureNak),
            list.prop_map(CpData::ConfigureReject),
            bytes(8).prop_map(CpData::TerminateRequest),
            bytes(8).prop_map(CpData::TerminateAck),
            bytes(8).prop_map(CpData::CodeReject),
            (lcp_only..=255, bytes(8)).prop_map(|(code, data)| if code < 12 {
                CpData::EchoRequest {
                    magic: u32::from(code),
                    data,
                }
            } else {
                CpData::Unknown { code, data }
            }),
        ]
    }

    proptest! {
        #[test]
        fn lcp_round_trip(identifier: u8, data in cp_data(lcp_opt(), true)) {
            let r = CpRepr { identifier, data };
            let mut out = Vec::new();
            r.emit(&mut out).unwrap();
            prop_assert_eq!(CpRepr::parse_bytes(&out).unwrap(), r);
        }
        #[test]
        fn ipcp_round_trip(identifier: u8, data in cp_data(ipcp_opt(), false)) {
            let r = CpRepr { identifier, data };
            let mut out = Vec::new();
            r.emit(&mut out).unwrap();
            prop_assert_eq!(CpRepr::parse_bytes(&out).unwrap(), r);
        }
        #[test]
        fn ipv6cp_round_trip(identifier: u8, data in cp_data(ipv6cp_opt(), false)) {
            let r = CpRepr { identifier, data };
            let mut out = Vec::new();
            r.emit(&mut out).unwrap();
            prop_assert_eq!(CpRepr::parse_bytes(&out).unwrap(), r);
        }
        #[test]
        fn parse_never_panics(b in bytes(40)) {
            let _ = CpRepr::<LcpOption>::parse_bytes(&b);
            let _ = CpRepr::<IpcpOption>::parse_bytes(&b);
            let _ = CpRepr::<Ipv6cpOption>::parse_bytes(&b);
        }
    }
}
