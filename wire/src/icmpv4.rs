//! ICMP for IPv4 (RFC 792; fragmentation-needed MTU from RFC 1191).
//!
//! Implemented as values: echo request/reply (ident, sequence, data), destination unreachable
//! (code, next-hop MTU, quoted original datagram), time exceeded (code, quoted datagram).
//! Every other message type (redirect, parameter problem, timestamp, router discovery, ...) is
//! kept whole as [`Icmpv4Repr::Other`]. The quoted datagram is kept as raw bytes (the
//! original IP header + at least 8 bytes): its total length describes the *original* packet,
//! which is longer than the quote, so it is deliberately not run through
//! `Ipv4Packet::new_checked`; [`quoted_ipv4_header`] reads the addresses and protocol from it.
//!
//! The checksum covers the whole message, so the view must be exactly the ICMP message (use
//! the IPv4 packet's `payload()`, which ends at the total length).

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::IpProtocol;
use super::{need, Error, Field, Proto, Result};

/// ICMPv4 message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Message {
    EchoReply,
    DstUnreachable,
    Redirect,
    EchoRequest,
    RouterAdvert,
    RouterSolicit,
    TimeExceeded,
    ParamProblem,
    Timestamp,
    TimestampReply,
    Unknown(u8),
}

impl From<u8> for Icmpv4Message {
    #[inline]
    fn from(v: u8) -> Self {
        match v {
            0 => Icmpv4Message::EchoReply,
            3 => Icmpv4Message::DstUnreachable,
            5 => Icmpv4Message::Redirect,
            8 => Icmpv4Message::EchoRequest,
            9 => Icmpv4Message::RouterAdvert,
            10 => Icmpv4Message::RouterSolicit,
            11 => Icmpv4Message::TimeExceeded,
            12 => Icmpv4Message::ParamProblem,
            13 => Icmpv4Message::Timestamp,
            14 => Icmpv4Message::TimestampReply,
            o => Icmpv4Message::Unknown(o),
        }
    }
}

impl From<Icmpv4Message> for u8 {
    #[inline]
    fn from(v: Icmpv4Message) -> u8 {
        match v {
            Icmpv4Message::EchoReply => 0,
            Icmpv4Message::DstUnreachable => 3,
            Icmpv4Message::Redirect => 5,
            Icmpv4Message::EchoRequest => 8,
            Icmpv4Message::RouterAdvert => 9,
            Icmpv4Message::RouterSolicit => 10,
            Icmpv4Message::TimeExceeded => 11,
            Icmpv4Message::ParamProblem => 12,
            Icmpv4Message::Timestamp => 13,
            Icmpv4Message::TimestampReply => 14,
            Icmpv4Message::Unknown(o) => o,
        }
    }
}

/// Destination unreachable codes (RFC 792, RFC 1122, RFC 1812).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4DstUnreachable {
    NetUnreachable,
    HostUnreachable,
    ProtoUnreachable,
    PortUnreachable,
    /// Fragmentation needed and DF set; the next-hop MTU is in the header (RFC 1191).
    FragRequired,
    SrcRouteFailed,
    DstNetUnknown,
    DstHostUnknown,
    SrcHostIsolated,
    NetProhibited,
    HostProhibited,
    NetUnreachToS,
    HostUnreachToS,
    /// Communication administratively prohibited (RFC 1812).
    CommProhibited,
    HostPrecedenceViolation,
    PrecedenceCutoff,
    Unknown(u8),
}

impl From<u8> for Icmpv4DstUnreachable {
    #[inline]
    fn from(v: u8) -> Self {
        use Icmpv4DstUnreachable::*;
        match v {
            0 => NetUnreachable,
            1 => HostUnreachable,
            2 => ProtoUnreachable,
            3 => PortUnreachable,
            4 => FragRequired,
            5 => SrcRouteFailed,
            6 => DstNetUnknown,
            7 => DstHostUnknown,
            8 => SrcHostIsolated,
            9 => NetProhibited,
            10 => HostProhibited,
            11 => NetUnreachToS,
            12 => HostUnreachToS,
            13 => CommProhibited,
            14 => HostPrecedenceViolation,
            15 => PrecedenceCutoff,
            o => Unknown(o),
        }
    }
}

impl From<Icmpv4DstUnreachable> for u8 {
    #[inline]
    fn from(v: Icmpv4DstUnreachable) -> u8 {
        use Icmpv4DstUnreachable::*;
        match v {
            NetUnreachable => 0,
            HostUnreachable => 1,
            ProtoUnreachable => 2,
            PortUnreachable => 3,
            FragRequired => 4,
            SrcRouteFailed => 5,
            DstNetUnknown => 6,
            DstHostUnknown => 7,
            SrcHostIsolated => 8,
            NetProhibited => 9,
            HostProhibited => 10,
            NetUnreachToS => 11,
            HostUnreachToS => 12,
            CommProhibited => 13,
            HostPrecedenceViolation => 14,
            PrecedenceCutoff => 15,
            Unknown(o) => o,
        }
    }
}

/// Time exceeded codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4TimeExceeded {
    /// TTL exceeded in transit.
    TtlExpired,
    /// Fragment reassembly time exceeded.
    FragExpired,
    Unknown(u8),
}

impl From<u8> for Icmpv4TimeExceeded {
    #[inline]
    fn from(v: u8) -> Self {
        match v {
            0 => Icmpv4TimeExceeded::TtlExpired,
            1 => Icmpv4TimeExceeded::FragExpired,
            o => Icmpv4TimeExceeded::Unknown(o),
        }
    }
}

impl From<Icmpv4TimeExceeded> for u8 {
    #[inline]
    fn from(v: Icmpv4TimeExceeded) -> u8 {
        match v {
            Icmpv4TimeExceeded::TtlExpired => 0,
            Icmpv4TimeExceeded::FragExpired => 1,
            Icmpv4TimeExceeded::Unknown(o) => o,
        }
    }
}

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const MTU: Field = 6..8;
}

/// Length of the ICMP header (type, code, checksum, 4 message-specific bytes).
pub const HEADER_LEN: usize = field::REST.end;

/// A read/write view of an ICMPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps a buffer of at least the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        need(Proto::Icmpv4, HEADER_LEN, self.buffer.as_ref().len())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.buffer.as_ref()[field::TYPE])
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The 4 message-specific header bytes as one word.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        super::get_u32(self.buffer.as_ref(), field::REST.start)
    }

    #[inline]
    pub fn echo_ident(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// Next-hop MTU of a fragmentation-needed message (RFC 1191); 0 from old routers.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::MTU.start)
    }

    /// Everything after the 8-byte header (echo data, or the quoted datagram).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True if the checksum over the whole buffer verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv4Message) {
        self.buffer.as_mut()[field::TYPE] = value.into()
    }

    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        super::set_u32(self.buffer.as_mut(), field::REST.start, value)
    }

    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, value)
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, value)
    }

    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::MTU.start, value)
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = !checksum::data(self.buffer.as_ref());
        self.set_checksum(c)
    }
}

/// The value form of an ICMPv4 message. `data` borrows from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// `data` is the quoted original datagram (IP header + ≥ 8 bytes).
    DstUnreachable {
        reason: Icmpv4DstUnreachable,
        next_hop_mtu: u16,
        data: &'a [u8],
    },
    /// `data` is the quoted original datagram.
    TimeExceeded {
        reason: Icmpv4TimeExceeded,
        data: &'a [u8],
    },
    /// Any other type, kept whole.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a checked message and verifies its checksum ([`Error::Checksum`]). Messages that
    /// do not look as RFC 792 sends them are kept whole as `Other`, so that parse → emit gives
    /// back the same bytes: echoes with a non-zero code, destination unreachable with non-zero
    /// unused bytes 4..6, time exceeded with non-zero unused bytes 4..8.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Icmpv4Packet<&'a T>) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum {
                proto: Proto::Icmpv4,
            });
        }
        let data = &packet.buffer.as_ref()[HEADER_LEN..];
        let code = packet.msg_code();
        Ok(match (packet.msg_type(), code) {
            (Icmpv4Message::EchoRequest, 0) => Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (Icmpv4Message::EchoReply, 0) => Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            (Icmpv4Message::DstUnreachable, _) if packet.echo_ident() == 0 => {
                Icmpv4Repr::DstUnreachable {
                    reason: Icmpv4DstUnreachable::from(code),
                    next_hop_mtu: packet.next_hop_mtu(),
                    data,
                }
            }
            (Icmpv4Message::TimeExceeded, _) if packet.rest_of_header() == 0 => {
                Icmpv4Repr::TimeExceeded {
                    reason: Icmpv4TimeExceeded::from(code),
                    data,
                }
            }
            (t, _) => Icmpv4Repr::Other {
                msg_type: t.into(),
                code,
                rest_of_header: packet.rest_of_header(),
                data,
            },
        })
    }

    /// Length of the emitted message.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. }
                | Icmpv4Repr::EchoReply { data, .. }
                | Icmpv4Repr::DstUnreachable { data, .. }
                | Icmpv4Repr::TimeExceeded { data, .. }
                | Icmpv4Repr::Other { data, .. } => data.len(),
            }
    }

    /// Writes the message (unused header bytes as zero) and its checksum. The buffer must be
    /// exactly `buffer_len()` bytes, since the checksum covers all of it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        let data = match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let t = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    Icmpv4Message::EchoRequest
                } else {
                    Icmpv4Message::EchoReply
                };
                packet.set_msg_type(t);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                data
            }
            Icmpv4Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.set_rest_of_header(u32::from(next_hop_mtu));
                data
            }
            Icmpv4Repr::TimeExceeded { reason, data } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.set_rest_of_header(0);
                data
            }
            Icmpv4Repr::Other {
                msg_type,
                code,
                rest_of_header,
                data,
            } => {
                packet.set_msg_type(Icmpv4Message::from(msg_type));
                packet.set_msg_code(code);
                packet.set_rest_of_header(rest_of_header);
                data
            }
        };
        packet.data_mut()[..data.len()].copy_from_slice(data);
        packet.fill_checksum();
    }
}

/// Source, destination, protocol and the first transport bytes of a quoted datagram (the
/// `data` of an ICMP error), checking only that the quoted header itself is present.
pub fn quoted_ipv4_header(data: &[u8]) -> Result<(Ipv4Addr, Ipv4Addr, IpProtocol, &[u8])> {
    need(Proto::Icmpv4, 20, data.len())?;
    if data[0] >> 4 != 4 {
        return Err(Error::Malformed {
            proto: Proto::Icmpv4,
            reason: "quoted datagram is not IPv4",
            value: u32::from(data[0] >> 4),
        });
    }
    let hl = usize::from(data[0] & 0x0f) * 4;
    if hl < 20 {
        return Err(Error::Malformed {
            proto: Proto::Icmpv4,
            reason: "quoted datagram IHL below 5",
            value: (hl / 4) as u32,
        });
    }
    need(Proto::Icmpv4, hl, data.len())?;
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    Ok((src, dst, IpProtocol::from(data[9]), &data[hl..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // scapy 2.5: ICMP(type=8, id=0x1234, seq=1)/b"abcdefgh"
    const ECHO: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68,
    ];
    // scapy 2.5: ICMP(type=3, code=4, nexthopmtu=1400)/IP(src="10.0.0.1", dst="10.0.0.2",
    //   proto=17, len=1500)/UDP(sport=1, dport=2, len=1480), first 36 bytes (RFC 792 quote).
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0x11, 0x60, 0x00, 0x00, 0x05, 0x78, 0x45, 0x00, 0x05, 0xdc, 0x00, 0x01, 0x00,
        0x00, 0x40, 0x11, 0x61, 0x0e, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x01,
        0x00, 0x02, 0x05, 0xc8, 0xe0, 0x58,
    ];
    // scapy 2.5: ICMP(type=11, code=0)/bytes(IP(src="10.0.0.1", dst="10.0.0.2", ttl=1)
    //   /UDP(sport=33434, dport=33435))[:28]
    const TTL_EXCEEDED: [u8; 36] = [
        0x0b, 0x00, 0x09, 0x1c, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00,
        0x00, 0x01, 0x11, 0xa5, 0xce, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x82, 0x9a,
        0x82, 0x9b, 0x00, 0x08, 0xe6, 0xa5,
    ];

    fn round_trip(bytes: &[u8]) {
        let p = Icmpv4Packet::new_checked(bytes).unwrap();
        let r = Icmpv4Repr::parse(&p).unwrap();
        assert_eq!(r.buffer_len(), bytes.len());
        let mut out = vec![0xaau8; r.buffer_len()];
        r.emit(&mut Icmpv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
    }

    #[test]
    fn real_echo() {
        let p = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(
            (p.msg_type(), p.msg_code()),
            (Icmpv4Message::EchoRequest, 0)
        );
        assert!(p.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&p).unwrap(),
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcdefgh"
            }
        );
        round_trip(&ECHO);
    }

    #[test]
    fn real_frag_needed() {
        let p = Icmpv4Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
        let r = Icmpv4Repr::parse(&p).unwrap();
        let Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            data,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(
            (reason, next_hop_mtu),
            (Icmpv4DstUnreachable::FragRequired, 1400)
        );
        let (s, d, proto, l4) = quoted_ipv4_header(data).unwrap();
        assert_eq!(
            (s, d, proto),
            (
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
                IpProtocol::Udp
            )
        );
        assert_eq!(&l4[..4], &[0, 1, 0, 2]);
        round_trip(&FRAG_NEEDED);
    }

    #[test]
    fn real_time_exceeded() {
        let p = Icmpv4Packet::new_checked(&TTL_EXCEEDED[..]).unwrap();
        let r = Icmpv4Repr::parse(&p).unwrap();
        assert!(
            matches!(r, Icmpv4Repr::TimeExceeded { reason: Icmpv4TimeExceeded::TtlExpired, data } if data.len() == 28)
        );
        round_trip(&TTL_EXCEEDED);
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            Icmpv4Packet::new_checked(&ECHO[..7]),
            Err(Error::Truncated { needed: 8, .. })
        ));
        let mut bad = ECHO;
        bad[15] ^= 1;
        let p = Icmpv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p),
            Err(Error::Checksum {
                proto: Proto::Icmpv4
            })
        );
        assert!(quoted_ipv4_header(&TTL_EXCEEDED[8..27]).is_err());
        let mut q = TTL_EXCEEDED;
        q[8] = 0x4f; // IHL 15 > quote
        assert!(quoted_ipv4_header(&q[8..]).is_err());
        q[8] = 0x44;
        assert!(quoted_ipv4_header(&q[8..]).is_err());
    }

    #[test]
    fn unknown_types_are_kept() {
        // Redirect (type 5, code 1) to gateway 10.0.0.254.
        let mut b = [5u8, 1, 0, 0, 10, 0, 0, 254, 0x45, 0, 0, 20];
        Icmpv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let r = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(
            r,
            Icmpv4Repr::Other {
                msg_type: 5,
                code: 1,
                rest_of_header: 0x0a0000fe,
                data: &b[8..]
            }
        );
        round_trip(&b);
    }

    /// Builds one of the five variants from plain generated values.
    fn make_repr(
        kind: u8,
        a: u16,
        b: u16,
        code: u8,
        rest: u32,
        t: u8,
        data: &[u8],
    ) -> Icmpv4Repr<'_> {
        match kind {
            0 => Icmpv4Repr::EchoRequest {
                ident: a,
                seq_no: b,
                data,
            },
            1 => Icmpv4Repr::EchoReply {
                ident: a,
                seq_no: b,
                data,
            },
            2 => Icmpv4Repr::DstUnreachable {
                reason: code.into(),
                next_hop_mtu: a,
                data,
            },
            3 => Icmpv4Repr::TimeExceeded {
                reason: code.into(),
                data,
            },
            // Types with their own variant are mapped away so `Other` stays `Other`.
            _ => Icmpv4Repr::Other {
                msg_type: if [0u8, 3, 8, 11].contains(&t) {
                    t + 1
                } else {
                    t
                },
                code,
                rest_of_header: rest,
                data,
            },
        }
    }

    proptest! {
        #[test]
        fn repr_round_trip(kind in 0u8..5, a in any::<u16>(), b in any::<u16>(), code in any::<u8>(),
                           rest in any::<u32>(), t in any::<u8>(),
                           data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let repr = make_repr(kind, a, b, code, rest, t, &data);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Icmpv4Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.echo_ident(), p.echo_seq_no(), p.next_hop_mtu(), p.data());
                if let Ok(r) = Icmpv4Repr::parse(&p) {
                    prop_assert_eq!(r.buffer_len(), data.len());
                }
                let _ = quoted_ipv4_header(p.data());
            }
        }
    }
}
