//! ICMPv6 (RFC 4443) and neighbor discovery NS/NA (RFC 4861 §4.3, §4.4).
//!
//! Implemented as values: destination unreachable, packet too big (MTU), time exceeded,
//! parameter problem (pointer) — each with the quoted original packet as raw bytes — echo
//! request/reply, neighbor solicitation and advertisement with their options
//! ([`NdiscOptions`]: source/target link-layer address for Ethernet; every other option kept as
//! [`NdiscOption::Unknown`]; an option of length 0 is an error, RFC 4861 §4.6). Router
//! solicitation/advertisement, redirect, MLD and everything else are kept whole as
//! [`Icmpv6Repr::Other`]. Not implemented: RA/RS/redirect values, the ND hop-limit-255 check
//! (that is the IPv6 layer's; the ND engine must enforce it), SEND options.
//!
//! The checksum covers the IPv6 pseudo header (next header 58) and the whole buffer, so the
//! view must be exactly the ICMPv6 message (the IPv6 packet's `payload()` when no extension
//! headers are present).

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::EthernetAddress;
use super::ipv4::IpProtocol;
use super::{need, Error, Field, Proto, Result};

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $val:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)*
            Unknown(u8),
        }
        impl From<u8> for $name {
            #[inline]
            fn from(v: u8) -> Self {
                match v {
                    $($val => $name::$var,)*
                    o => $name::Unknown(o),
                }
            }
        }
        impl From<$name> for u8 {
            #[inline]
            fn from(v: $name) -> u8 {
                match v {
                    $($name::$var => $val,)*
                    $name::Unknown(o) => o,
                }
            }
        }
    };
}

code_enum!(
    /// ICMPv6 message types.
    Icmpv6Message {
        DstUnreachable = 1,
        PktTooBig = 2,
        TimeExceeded = 3,
        ParamProblem = 4,
        EchoRequest = 128,
        EchoReply = 129,
        RouterSolicit = 133,
        RouterAdvert = 134,
        NeighborSolicit = 135,
        NeighborAdvert = 136,
        Redirect = 137,
    }
);

code_enum!(
    /// Destination unreachable codes (RFC 4443 §3.1, RFC 6554).
    Icmpv6DstUnreachable {
        NoRoute = 0,
        AdminProhibit = 1,
        BeyondScope = 2,
        AddrUnreachable = 3,
        PortUnreachable = 4,
        FailedPolicy = 5,
        RejectRoute = 6,
        SrcRoutingHeader = 7,
    }
);

code_enum!(
    /// Time exceeded codes (RFC 4443 §3.3).
    Icmpv6TimeExceeded {
        HopLimitExceeded = 0,
        FragReassemblyExceeded = 1,
    }
);

code_enum!(
    /// Parameter problem codes (RFC 4443 §3.4).
    Icmpv6ParamProblem {
        ErroneousHdrField = 0,
        UnrecognizedNxtHdr = 1,
        UnrecognizedOption = 2,
    }
);

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const NA_FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;
}

/// Length of the ICMPv6 header (type, code, checksum, 4 message-specific bytes).
pub const HEADER_LEN: usize = field::REST.end;
/// Length of an NS/NA before its options.
pub const ND_HEADER_LEN: usize = field::TARGET.end;

/// A read/write view of an ICMPv6 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps a buffer of at least the 8-byte header (24 bytes for NS/NA).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Icmpv6, HEADER_LEN, len)?;
        if matches!(
            self.msg_type(),
            Icmpv6Message::NeighborSolicit | Icmpv6Message::NeighborAdvert
        ) {
            need(Proto::Icmpv6, ND_HEADER_LEN, len)?;
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> Icmpv6Message {
        Icmpv6Message::from(self.buffer.as_ref()[field::TYPE])
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The 4 message-specific header bytes: MTU (packet too big), pointer (parameter
    /// problem), ident/seq (echo), flags (NA).
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

    /// MTU of a packet-too-big message.
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        self.rest_of_header()
    }

    /// Pointer of a parameter-problem message.
    #[inline]
    pub fn param_problem_ptr(&self) -> u32 {
        self.rest_of_header()
    }

    /// R/S/O flags of a neighbor advertisement.
    #[inline]
    pub fn neighbor_flags(&self) -> NeighborFlags {
        NeighborFlags::from_byte(self.buffer.as_ref()[field::NA_FLAGS])
    }

    /// Target address of an NS/NA; `None` if the message is too short to have one.
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let b: [u8; 16] = self.buffer.as_ref().get(field::TARGET)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }

    /// Raw option bytes of an NS/NA (empty if none or too short).
    #[inline]
    pub fn nd_options(&self) -> &[u8] {
        self.buffer.as_ref().get(ND_HEADER_LEN..).unwrap_or(&[])
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// True if the checksum over the pseudo header and the whole buffer verifies.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let d = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, d.len() as u32);
        checksum::combine(&[ph, checksum::data(d)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, value: Icmpv6Message) {
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

    /// Sets the target address (buffer must be ≥ 24 bytes).
    #[inline]
    pub fn set_target_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&value.octets())
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes the checksum over the pseudo header and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        let ph = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, d.len() as u32);
        let c = !checksum::combine(&[ph, checksum::data(d)]);
        self.set_checksum(c)
    }
}

/// Neighbor advertisement flags (RFC 4861 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: sent in response to a solicitation.
    pub solicited: bool,
    /// O: override an existing cache entry.
    pub override_: bool,
}

impl NeighborFlags {
    #[inline]
    pub const fn from_byte(b: u8) -> NeighborFlags {
        NeighborFlags {
            router: b & 0x80 != 0,
            solicited: b & 0x40 != 0,
            override_: b & 0x20 != 0,
        }
    }

    #[inline]
    pub const fn to_byte(self) -> u8 {
        (self.router as u8) << 7 | (self.solicited as u8) << 6 | (self.override_ as u8) << 5
    }
}

/// One neighbor discovery option (RFC 4861 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscOption<'a> {
    /// Type 1 with an Ethernet address (length 1).
    SourceLinkLayerAddr(EthernetAddress),
    /// Type 2 with an Ethernet address (length 1).
    TargetLinkLayerAddr(EthernetAddress),
    /// Any other option (or type 1/2 of another length), `data` = the bytes after type and
    /// length, padding included.
    Unknown { kind: u8, data: &'a [u8] },
}

/// Option type numbers.
const OPT_SLLA: u8 = 1;
const OPT_TLLA: u8 = 2;

impl<'a> NdiscOption<'a> {
    /// Reads the option at the start of `bytes`; returns it and its length in bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<(NdiscOption<'a>, usize)> {
        need(Proto::Icmpv6, 2, bytes.len())?;
        let (kind, units) = (bytes[0], bytes[1]);
        if units == 0 {
            return Err(Error::Malformed {
                proto: Proto::Icmpv6,
                reason: "neighbor discovery option of length 0; type",
                value: u32::from(kind),
            });
        }
        let len = usize::from(units) * 8;
        need(Proto::Icmpv6, len, bytes.len())?;
        let data = &bytes[2..len];
        let opt = match (kind, units) {
            (OPT_SLLA, 1) => NdiscOption::SourceLinkLayerAddr(EthernetAddress([
                data[0], data[1], data[2], data[3], data[4], data[5],
            ])),
            (OPT_TLLA, 1) => NdiscOption::TargetLinkLayerAddr(EthernetAddress([
                data[0], data[1], data[2], data[3], data[4], data[5],
            ])),
            _ => NdiscOption::Unknown { kind, data },
        };
        Ok((opt, len))
    }

    /// Encoded length (a multiple of 8; `Unknown` data is zero-padded up to it).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            NdiscOption::SourceLinkLayerAddr(_) | NdiscOption::TargetLinkLayerAddr(_) => 8,
            NdiscOption::Unknown { data, .. } => (2 + data.len()).div_ceil(8) * 8,
        }
    }

    /// Writes the option at the start of `out` (≥ `buffer_len()` bytes, and `buffer_len()`
    /// ≤ 2040); returns its length.
    pub fn emit(&self, out: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let out = &mut out[..len];
        out.fill(0);
        out[1] = (len / 8) as u8;
        match self {
            NdiscOption::SourceLinkLayerAddr(a) | NdiscOption::TargetLinkLayerAddr(a) => {
                out[0] = if matches!(self, NdiscOption::SourceLinkLayerAddr(_)) {
                    OPT_SLLA
                } else {
                    OPT_TLLA
                };
                out[2..8].copy_from_slice(&a.0);
            }
            NdiscOption::Unknown { kind, data } => {
                out[0] = *kind;
                out[2..2 + data.len()].copy_from_slice(data);
            }
        }
        len
    }
}

/// The validated option area of an NS/NA: every option has a non-zero length and fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NdiscOptions<'a>(&'a [u8]);

impl<'a> NdiscOptions<'a> {
    /// Validates a sequence of options.
    pub fn new_checked(bytes: &'a [u8]) -> Result<NdiscOptions<'a>> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, len) = NdiscOption::parse(rest)?;
            rest = &rest[len..];
        }
        Ok(NdiscOptions(bytes))
    }

    #[inline]
    pub const fn empty() -> NdiscOptions<'static> {
        NdiscOptions(&[])
    }

    #[inline]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The options in order.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = NdiscOption<'a>> + 'a {
        let mut rest = self.0;
        core::iter::from_fn(move || {
            // Validated in `new_checked`; a failure here just ends the iteration.
            let (opt, len) = NdiscOption::parse(rest).ok()?;
            rest = rest.get(len..)?;
            Some(opt)
        })
    }

    /// The first source link-layer address option.
    pub fn source_lladdr(&self) -> Option<EthernetAddress> {
        self.iter().find_map(|o| match o {
            NdiscOption::SourceLinkLayerAddr(a) => Some(a),
            _ => None,
        })
    }

    /// The first target link-layer address option.
    pub fn target_lladdr(&self) -> Option<EthernetAddress> {
        self.iter().find_map(|o| match o {
            NdiscOption::TargetLinkLayerAddr(a) => Some(a),
            _ => None,
        })
    }
}

/// The value form of an ICMPv6 message; `data`/`options` borrow from the parsed buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// `data`: as much of the invoking packet as fits (RFC 4443 §2.4 (c)).
    DstUnreachable {
        reason: Icmpv6DstUnreachable,
        data: &'a [u8],
    },
    PktTooBig {
        mtu: u32,
        data: &'a [u8],
    },
    TimeExceeded {
        reason: Icmpv6TimeExceeded,
        data: &'a [u8],
    },
    ParamProblem {
        reason: Icmpv6ParamProblem,
        pointer: u32,
        data: &'a [u8],
    },
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
    NeighborSolicit {
        target_addr: Ipv6Addr,
        options: NdiscOptions<'a>,
    },
    NeighborAdvert {
        flags: NeighborFlags,
        target_addr: Ipv6Addr,
        options: NdiscOptions<'a>,
    },
    /// Any other message, kept whole.
    Other {
        msg_type: u8,
        code: u8,
        rest_of_header: u32,
        data: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads a checked message and verifies its checksum with the pseudo header of
    /// `src`/`dst`. NS/NA with a non-zero code or a malformed option are errors (RFC 4861
    /// §7.1); reserved bits are ignored. Error messages and echoes whose unused bits or code are
    /// not as RFC 4443 sends them are kept as `Other`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv6Packet<&'a T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<Icmpv6Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum {
                proto: Proto::Icmpv6,
            });
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let data = &buf[HEADER_LEN..];
        let code = packet.msg_code();
        let rest = packet.rest_of_header();
        let nd_target = || -> Result<(Ipv6Addr, NdiscOptions<'a>)> {
            if code != 0 {
                return Err(Error::Malformed {
                    proto: Proto::Icmpv6,
                    reason: "neighbor discovery message with non-zero code",
                    value: u32::from(code),
                });
            }
            need(Proto::Icmpv6, ND_HEADER_LEN, buf.len())?;
            let t: [u8; 16] = [
                buf[8], buf[9], buf[10], buf[11], buf[12], buf[13], buf[14], buf[15], buf[16],
                buf[17], buf[18], buf[19], buf[20], buf[21], buf[22], buf[23],
            ];
            Ok((
                Ipv6Addr::from(t),
                NdiscOptions::new_checked(&buf[ND_HEADER_LEN..])?,
            ))
        };
        Ok(match packet.msg_type() {
            Icmpv6Message::DstUnreachable if rest == 0 => Icmpv6Repr::DstUnreachable {
                reason: code.into(),
                data,
            },
            Icmpv6Message::PktTooBig if code == 0 => Icmpv6Repr::PktTooBig { mtu: rest, data },
            Icmpv6Message::TimeExceeded if rest == 0 => Icmpv6Repr::TimeExceeded {
                reason: code.into(),
                data,
            },
            Icmpv6Message::ParamProblem => Icmpv6Repr::ParamProblem {
                reason: code.into(),
                pointer: rest,
                data,
            },
            Icmpv6Message::EchoRequest if code == 0 => Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Icmpv6Message::EchoReply if code == 0 => Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            },
            Icmpv6Message::NeighborSolicit => {
                let (target_addr, options) = nd_target()?;
                Icmpv6Repr::NeighborSolicit {
                    target_addr,
                    options,
                }
            }
            Icmpv6Message::NeighborAdvert => {
                let (target_addr, options) = nd_target()?;
                Icmpv6Repr::NeighborAdvert {
                    flags: packet.neighbor_flags(),
                    target_addr,
                    options,
                }
            }
            t => Icmpv6Repr::Other {
                msg_type: t.into(),
                code,
                rest_of_header: rest,
                data,
            },
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::DstUnreachable { data, .. }
            | Icmpv6Repr::PktTooBig { data, .. }
            | Icmpv6Repr::TimeExceeded { data, .. }
            | Icmpv6Repr::ParamProblem { data, .. }
            | Icmpv6Repr::EchoRequest { data, .. }
            | Icmpv6Repr::EchoReply { data, .. }
            | Icmpv6Repr::Other { data, .. } => HEADER_LEN + data.len(),
            Icmpv6Repr::NeighborSolicit { options, .. }
            | Icmpv6Repr::NeighborAdvert { options, .. } => {
                ND_HEADER_LEN + options.as_bytes().len()
            }
        }
    }

    /// Writes the message (reserved bytes as zero) and its checksum. The buffer must be exactly
    /// `buffer_len()` bytes, since the checksum covers all of it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) {
        let (t, code, rest, body): (Icmpv6Message, u8, u32, &[u8]) = match *self {
            Icmpv6Repr::DstUnreachable { reason, data } => {
                (Icmpv6Message::DstUnreachable, reason.into(), 0, data)
            }
            Icmpv6Repr::PktTooBig { mtu, data } => (Icmpv6Message::PktTooBig, 0, mtu, data),
            Icmpv6Repr::TimeExceeded { reason, data } => {
                (Icmpv6Message::TimeExceeded, reason.into(), 0, data)
            }
            Icmpv6Repr::ParamProblem {
                reason,
                pointer,
                data,
            } => (Icmpv6Message::ParamProblem, reason.into(), pointer, data),
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Message::EchoRequest,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                Icmpv6Message::EchoReply,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
                data,
            ),
            Icmpv6Repr::NeighborSolicit { options, .. } => {
                (Icmpv6Message::NeighborSolicit, 0, 0, options.as_bytes())
            }
            Icmpv6Repr::NeighborAdvert { flags, options, .. } => (
                Icmpv6Message::NeighborAdvert,
                0,
                u32::from(flags.to_byte()) << 24,
                options.as_bytes(),
            ),
            Icmpv6Repr::Other {
                msg_type,
                code,
                rest_of_header,
                data,
            } => (Icmpv6Message::from(msg_type), code, rest_of_header, data),
        };
        packet.set_msg_type(t);
        packet.set_msg_code(code);
        packet.set_rest_of_header(rest);
        match *self {
            Icmpv6Repr::NeighborSolicit { target_addr, .. }
            | Icmpv6Repr::NeighborAdvert { target_addr, .. } => {
                packet.set_target_addr(target_addr);
                packet.buffer.as_mut()[ND_HEADER_LEN..ND_HEADER_LEN + body.len()]
                    .copy_from_slice(body);
            }
            _ => packet.data_mut()[..body.len()].copy_from_slice(body),
        }
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    // scapy 2.5: IPv6(src="fe80::1", dst="fe80::2")/ICMPv6EchoRequest(id=0x77, seq=3, data=b"ping"),
    // ICMPv6 part (bytes 40..).
    const ECHO: [u8; 12] = [
        0x80, 0x00, 0xa3, 0x69, 0x00, 0x77, 0x00, 0x03, 0x70, 0x69, 0x6e, 0x67,
    ];
    // scapy 2.5: IPv6(src="fe80::1", dst="ff02::1:ff00:2", hlim=255)/ICMPv6ND_NS(tgt="fe80::2")
    //   /ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"), ICMPv6 part.
    const NS: [u8; 32] = [
        0x87, 0x00, 0x7a, 0x97, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x01,
    ];
    // scapy 2.5: IPv6(src="fe80::2", dst="fe80::1", hlim=255)/ICMPv6ND_NA(tgt="fe80::2", R=0,
    //   S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02"), ICMPv6 part.
    const NA: [u8; 32] = [
        0x88, 0x00, 0x18, 0x1a, 0x60, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x02,
    ];
    // scapy 2.5: IPv6(src="2001:db8::ff", dst="2001:db8::1")/ICMPv6PacketTooBig(mtu=1280)
    //   /IPv6(src="2001:db8::1", dst="2001:db8::9", plen=1400, nh=17), ICMPv6 part.
    const PTB: [u8; 48] = [
        0x02, 0x00, 0xc9, 0xee, 0x00, 0x00, 0x05, 0x00, 0x60, 0x00, 0x00, 0x00, 0x05, 0x78, 0x11,
        0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x09,
    ];

    fn round_trip(bytes: &[u8], s: &Ipv6Addr, d: &Ipv6Addr) -> Icmpv6Repr<'static> {
        let owned: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
        let p = Icmpv6Packet::new_checked(owned).unwrap();
        let r = Icmpv6Repr::parse(&p, s, d).unwrap();
        let mut out = vec![0xaau8; r.buffer_len()];
        r.emit(s, d, &mut Icmpv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
        r
    }

    #[test]
    fn real_echo() {
        let r = round_trip(&ECHO, &a("fe80::1"), &a("fe80::2"));
        assert_eq!(
            r,
            Icmpv6Repr::EchoRequest {
                ident: 0x77,
                seq_no: 3,
                data: b"ping"
            }
        );
    }

    #[test]
    fn real_neighbor_solicit() {
        let r = round_trip(&NS, &a("fe80::1"), &a("ff02::1:ff00:2"));
        let Icmpv6Repr::NeighborSolicit {
            target_addr,
            options,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(target_addr, a("fe80::2"));
        assert_eq!(
            options.source_lladdr(),
            Some(EthernetAddress([2, 0, 0, 0, 0, 1]))
        );
        assert_eq!(options.target_lladdr(), None);
        assert_eq!(options.iter().count(), 1);
    }

    #[test]
    fn real_neighbor_advert() {
        let r = round_trip(&NA, &a("fe80::2"), &a("fe80::1"));
        let Icmpv6Repr::NeighborAdvert {
            flags,
            target_addr,
            options,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(
            flags,
            NeighborFlags {
                router: false,
                solicited: true,
                override_: true
            }
        );
        assert_eq!(target_addr, a("fe80::2"));
        assert_eq!(
            options.target_lladdr(),
            Some(EthernetAddress([2, 0, 0, 0, 0, 2]))
        );
        let p = Icmpv6Packet::new_checked(&NA[..]).unwrap();
        assert_eq!(p.target_addr(), Some(a("fe80::2")));
        assert_eq!(p.nd_options(), &NA[24..]);
    }

    #[test]
    fn real_packet_too_big() {
        let r = round_trip(&PTB, &a("2001:db8::ff"), &a("2001:db8::1"));
        let Icmpv6Repr::PktTooBig { mtu, data } = r else {
            panic!("{r:?}")
        };
        assert_eq!((mtu, data.len()), (1280, 40));
    }

    #[test]
    fn malformed() {
        let (s, d) = (a("fe80::1"), a("ff02::1:ff00:2"));
        assert!(matches!(
            Icmpv6Packet::new_checked(&ECHO[..7]),
            Err(Error::Truncated { needed: 8, .. })
        ));
        // NS too short for its target.
        assert!(matches!(
            Icmpv6Packet::new_checked(&NS[..20]),
            Err(Error::Truncated { needed: 24, .. })
        ));
        // Checksum, and the pseudo header matters.
        let p = Icmpv6Packet::new_checked(&NS[..]).unwrap();
        assert_eq!(
            Icmpv6Repr::parse(&p, &d, &a("ff02::1")),
            Err(Error::Checksum {
                proto: Proto::Icmpv6
            })
        );
        // Option length 0.
        let mut b = NS;
        b[25] = 0;
        let mut p = Icmpv6Packet::new_unchecked(&mut b[..]);
        p.fill_checksum(&s, &d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&p, &s, &d),
            Err(Error::Malformed { value: 1, .. })
        ));
        // Option longer than the message.
        let mut b = NS;
        b[25] = 2;
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(&s, &d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&p, &s, &d),
            Err(Error::Truncated {
                needed: 16,
                got: 8,
                ..
            })
        ));
        // Non-zero code on an NS.
        let mut b = NS;
        b[1] = 1;
        Icmpv6Packet::new_unchecked(&mut b[..]).fill_checksum(&s, &d);
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert!(matches!(
            Icmpv6Repr::parse(&p, &s, &d),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn unknown_options_and_messages_are_kept() {
        // NS with a nonce option (type 14, RFC 7527) and an SLLA.
        let mut opts = [0u8; 16];
        let nonce = NdiscOption::Unknown {
            kind: 14,
            data: &[1, 2, 3, 4, 5, 6],
        };
        let n = nonce.emit(&mut opts);
        NdiscOption::SourceLinkLayerAddr(EthernetAddress([2, 0, 0, 0, 0, 9])).emit(&mut opts[n..]);
        let options = NdiscOptions::new_checked(&opts).unwrap();
        let repr = Icmpv6Repr::NeighborSolicit {
            target_addr: a("2001:db8::5"),
            options,
        };
        let (s, d) = (a("::"), a("ff02::1:ff00:5"));
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&s, &d, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let parsed =
            Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&buf[..]).unwrap(), &s, &d).unwrap();
        assert_eq!(parsed, repr);
        let Icmpv6Repr::NeighborSolicit { options, .. } = parsed else {
            unreachable!()
        };
        let all: Vec<_> = options.iter().collect();
        assert_eq!(all[0], nonce);
        assert_eq!(
            options.source_lladdr(),
            Some(EthernetAddress([2, 0, 0, 0, 0, 9]))
        );
        // A router solicitation is kept whole as Other.
        let mut rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
        Icmpv6Packet::new_unchecked(&mut rs[..]).fill_checksum(&s, &d);
        let r = Icmpv6Repr::parse(&Icmpv6Packet::new_checked(&rs[..]).unwrap(), &s, &d).unwrap();
        assert_eq!(
            r,
            Icmpv6Repr::Other {
                msg_type: 133,
                code: 0,
                rest_of_header: 0,
                data: &[]
            }
        );
    }

    fn make_repr<'a>(
        kind: u8,
        x: u32,
        code: u8,
        t: u8,
        target: [u8; 16],
        data: &'a [u8],
        opts: &'a [u8],
    ) -> Icmpv6Repr<'a> {
        match kind {
            0 => Icmpv6Repr::DstUnreachable {
                reason: code.into(),
                data,
            },
            1 => Icmpv6Repr::PktTooBig { mtu: x, data },
            2 => Icmpv6Repr::TimeExceeded {
                reason: code.into(),
                data,
            },
            3 => Icmpv6Repr::ParamProblem {
                reason: code.into(),
                pointer: x,
                data,
            },
            4 => Icmpv6Repr::EchoRequest {
                ident: (x >> 16) as u16,
                seq_no: x as u16,
                data,
            },
            5 => Icmpv6Repr::EchoReply {
                ident: (x >> 16) as u16,
                seq_no: x as u16,
                data,
            },
            6 => Icmpv6Repr::NeighborSolicit {
                target_addr: Ipv6Addr::from(target),
                options: NdiscOptions::new_checked(opts).unwrap(),
            },
            7 => Icmpv6Repr::NeighborAdvert {
                flags: NeighborFlags::from_byte(code),
                target_addr: Ipv6Addr::from(target),
                options: NdiscOptions::new_checked(opts).unwrap(),
            },
            _ => Icmpv6Repr::Other {
                msg_type: if [1u8, 2, 3, 4, 128, 129, 135, 136].contains(&t) {
                    200
                } else {
                    t
                },
                code,
                rest_of_header: x,
                data,
            },
        }
    }

    /// Valid option areas built from generated options.
    fn arb_options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            (0u8..3, any::<[u8; 6]>(), 3u8..=255, 0usize..3, any::<u8>()),
            0..4,
        )
        .prop_map(|opts| {
            let mut out = Vec::new();
            for (k, mac, kind, units, fill) in opts {
                let data = vec![fill; units * 8 + 6];
                let o = match k {
                    0 => NdiscOption::SourceLinkLayerAddr(EthernetAddress(mac)),
                    1 => NdiscOption::TargetLinkLayerAddr(EthernetAddress(mac)),
                    _ => NdiscOption::Unknown { kind, data: &data },
                };
                let at = out.len();
                out.resize(at + o.buffer_len(), 0);
                o.emit(&mut out[at..]);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn repr_round_trip(kind in 0u8..9, x in any::<u32>(), code in any::<u8>(), t in any::<u8>(),
                           target in any::<[u8; 16]>(), s in any::<[u8; 16]>(), d in any::<[u8; 16]>(),
                           data in proptest::collection::vec(any::<u8>(), 0..64), opts in arb_options()) {
            let repr = make_repr(kind, x, code, t, target, &data, &opts);
            let (s, d) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&s, &d, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
            let p = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            let mut want = repr;
            if let Icmpv6Repr::NeighborAdvert { flags, .. } = &mut want {
                *flags = NeighborFlags::from_byte(flags.to_byte()); // only R/S/O survive
            }
            prop_assert_eq!(Icmpv6Repr::parse(&p, &s, &d).unwrap(), want);
        }

        #[test]
        fn random_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..80), nd in any::<bool>()) {
            if nd && !data.is_empty() {
                data[0] = 135 + (data[0] & 1);
            }
            let (s, d) = (a("fe80::1"), a("fe80::2"));
            if let Ok(p) = Icmpv6Packet::new_checked(&data[..]) {
                let _ = (p.msg_type(), p.msg_code(), p.rest_of_header(), p.target_addr(), p.nd_options(), p.data());
                let _ = p.neighbor_flags();
                let _ = Icmpv6Repr::parse(&p, &s, &d);
            }
            // Exercise the option walker directly too (no checksum in the way).
            if let Ok(o) = NdiscOptions::new_checked(&data) {
                prop_assert!(o.iter().map(|x| x.buffer_len()).sum::<usize>() == data.len());
            }
        }
    }
}
