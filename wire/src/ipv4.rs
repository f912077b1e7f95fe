//! IPv4 (RFC 791) and the IP protocol numbers.
//!
//! `Ipv4Packet::new_checked` validates: version 4, IHL ≥ 5, IHL×4 ≤ buffer, total length ≥
//! IHL×4 and ≤ buffer. A buffer longer than the total length is accepted — Ethernet pads
//! frames to 60 bytes — and `payload()` ends at the total length, so padding never reaches the
//! upper layer. Options are not interpreted; `payload()` starts at IHL×4, `options()` returns
//! the raw option bytes. [`Ipv4Repr`] never emits options; parsing a header with options gives a
//! `Repr` without them whose `payload_len` still excludes them. Not implemented: option
//! parsing, reassembly (fragments are read as they are: see `more_frags`/`frag_offset`).

use std::net::Ipv4Addr;

use super::checksum;
use super::{need, Error, Field, Proto, Result};

/// IP protocol / IPv6 next-header numbers (IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpProtocol {
    /// IPv6 hop-by-hop options (0).
    HopByHop,
    Icmp,
    /// IPv4 in IP (4).
    Ipv4,
    Tcp,
    Udp,
    /// IPv6 encapsulation (41).
    Ipv6,
    /// IPv6 routing header (43).
    Ipv6Route,
    /// IPv6 fragment header (44).
    Ipv6Frag,
    Gre,
    Esp,
    /// Authentication header (51).
    Ah,
    Icmpv6,
    /// IPv6 no next header (59).
    Ipv6NoNxt,
    /// IPv6 destination options (60).
    Ipv6Opts,
    /// L2TPv3 over IP (115).
    L2tp,
    /// MPLS in IP (137).
    MplsInIp,
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(v: u8) -> Self {
        match v {
            0 => IpProtocol::HopByHop,
            1 => IpProtocol::Icmp,
            4 => IpProtocol::Ipv4,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            41 => IpProtocol::Ipv6,
            43 => IpProtocol::Ipv6Route,
            44 => IpProtocol::Ipv6Frag,
            47 => IpProtocol::Gre,
            50 => IpProtocol::Esp,
            51 => IpProtocol::Ah,
            58 => IpProtocol::Icmpv6,
            59 => IpProtocol::Ipv6NoNxt,
            60 => IpProtocol::Ipv6Opts,
            115 => IpProtocol::L2tp,
            137 => IpProtocol::MplsInIp,
            o => IpProtocol::Unknown(o),
        }
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(v: IpProtocol) -> u8 {
        match v {
            IpProtocol::HopByHop => 0,
            IpProtocol::Icmp => 1,
            IpProtocol::Ipv4 => 4,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Ipv6 => 41,
            IpProtocol::Ipv6Route => 43,
            IpProtocol::Ipv6Frag => 44,
            IpProtocol::Gre => 47,
            IpProtocol::Esp => 50,
            IpProtocol::Ah => 51,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Ipv6NoNxt => 59,
            IpProtocol::Ipv6Opts => 60,
            IpProtocol::L2tp => 115,
            IpProtocol::MplsInIp => 137,
            IpProtocol::Unknown(o) => o,
        }
    }
}

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The fields of an IPv4 header that forwarding reads, from [`check_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderFields {
    /// Destination address, as an integer.
    pub dst: u32,
    /// Total length: header and payload.
    pub total_len: u16,
    /// Protocol number.
    pub protocol: u8,
}

/// Why [`check_header`] refused a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// [`Ipv4Packet::new_checked`] refuses it: version, IHL or total length.
    Malformed,
    /// The header checksum does not verify.
    BadChecksum,
}

/// [`Ipv4Packet::new_checked`] and [`Ipv4Packet::verify_checksum`] in one, with the fields
/// forwarding reads. A header without options (nearly every packet a router forwards) is
/// read from one 20-byte window with one bounds check; any other goes through those two
/// checks, out of line. The answer is theirs in every case (`tests::check_header_agrees`
/// and the `ipv4` fuzz target hold it to them).
#[inline]
pub fn check_header(buf: &[u8]) -> core::result::Result<HeaderFields, HeaderError> {
    if let Some(h) = buf.first_chunk::<HEADER_LEN>() {
        let total = u16::from_be_bytes([h[2], h[3]]);
        // Version 4 and IHL 5: a 20-byte header, within the total length, within the buffer.
        if h[0] == 0x45 && usize::from(total) >= HEADER_LEN && usize::from(total) <= buf.len() {
            if checksum::data(h) != 0xffff {
                return Err(HeaderError::BadChecksum);
            }
            return Ok(HeaderFields {
                dst: u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
                total_len: total,
                protocol: h[field::PROTOCOL],
            });
        }
    }
    check_header_general(buf)
}

/// [`check_header`] for a header with options or one the window refused.
#[inline(never)]
fn check_header_general(buf: &[u8]) -> core::result::Result<HeaderFields, HeaderError> {
    let p = Ipv4Packet::new_checked(buf).map_err(|_| HeaderError::Malformed)?;
    if !p.verify_checksum() {
        return Err(HeaderError::BadChecksum);
    }
    Ok(HeaderFields {
        dst: u32::from(p.dst_addr()),
        total_len: p.total_len(),
        protocol: u8::from(p.next_header()),
    })
}

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn malformed(reason: &'static str, value: u32) -> Error {
    Error::Malformed {
        proto: Proto::Ipv4,
        reason,
        value,
    }
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates version, IHL and total length against the buffer (see the module doc).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        need(Proto::Ipv4, HEADER_LEN, len)?;
        if self.version() != 4 {
            return Err(malformed("version is not 4", u32::from(self.version())));
        }
        let hl = usize::from(self.header_len());
        if hl < HEADER_LEN {
            return Err(malformed(
                "IHL below 5 (header shorter than 20 bytes)",
                (hl / 4) as u32,
            ));
        }
        need(Proto::Ipv4, hl, len)?;
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(malformed(
                "total length shorter than the header",
                total as u32,
            ));
        }
        need(Proto::Ipv4, total, len)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point (RFC 2474), 6 bits.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// ECN (RFC 3168), 2 bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// The whole former TOS byte (DSCP << 2 | ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    #[inline]
    pub fn total_len(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    #[inline]
    fn flg_off(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    /// The reserved (evil) bit, bit 0 of the flags.
    #[inline]
    pub fn reserved_flag(&self) -> bool {
        self.flg_off() & 0x8000 != 0
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & 0x4000 != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flg_off() & 0x2000 != 0
    }

    /// Fragment offset in **bytes** (the field × 8), as smoltcp.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & 0x1fff) << 3
    }

    /// MF set or offset non-zero.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & 0x3fff != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Same as [`ttl`](Self::ttl) (smoltcp's name).
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.ttl()
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Same as [`next_header`](Self::next_header).
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        self.next_header()
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        super::get_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[12], d[13], d[14], d[15])
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[16], d[17], d[18], d[19])
    }

    /// True if the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..usize::from(self.header_len())]) == 0xffff
    }

    /// Raw option bytes (between byte 20 and IHL×4).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The bytes from IHL×4 to the total length (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        &d[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    pub fn set_version(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_IHL] = (d[field::VER_IHL] & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes (must be a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::VER_IHL] = (d[field::VER_IHL] & 0xf0) | ((value / 4) & 0x0f);
    }

    #[inline]
    pub fn set_dscp(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::DSCP_ECN] = (d[field::DSCP_ECN] & 0x03) | (value << 2);
    }

    #[inline]
    pub fn set_ecn(&mut self, value: u8) {
        let d = self.buffer.as_mut();
        d[field::DSCP_ECN] = (d[field::DSCP_ECN] & 0xfc) | (value & 0x03);
    }

    /// Sets the TOS byte (DSCP and ECN). Does not touch the checksum.
    #[inline]
    pub fn set_tos(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::LENGTH.start, value)
    }

    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::IDENT.start, value)
    }

    #[inline]
    fn set_flg_off(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::FLG_OFF.start, value)
    }

    /// Clears all three flags and the offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        let v = self.flg_off() & 0x1fff;
        self.set_flg_off(v)
    }

    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let v = (self.flg_off() & !0x4000) | if value { 0x4000 } else { 0 };
        self.set_flg_off(v)
    }

    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let v = (self.flg_off() & !0x2000) | if value { 0x2000 } else { 0 };
        self.set_flg_off(v)
    }

    /// Sets the fragment offset in bytes (must be a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, value: u16) {
        let v = (self.flg_off() & 0xe000) | (value >> 3);
        self.set_flg_off(v)
    }

    /// Sets the TTL. Does not touch the checksum (see
    /// [`decrement_ttl_update_checksum`](Self::decrement_ttl_update_checksum)).
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value
    }

    /// Same as [`set_ttl`](Self::set_ttl) (smoltcp's name).
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.set_ttl(value)
    }

    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into()
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        super::set_u16(self.buffer.as_mut(), field::CHECKSUM.start, value)
    }

    #[inline]
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets())
    }

    #[inline]
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets())
    }

    /// Recomputes the header checksum over IHL×4 bytes.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = usize::from(self.header_len());
        let c = !checksum::data(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c)
    }

    /// Forwarding step: if TTL ≤ 1 returns [`Error::TtlExpired`] and leaves the packet
    /// untouched (the caller drops it and sends ICMP time exceeded); otherwise decrements the
    /// TTL, patches the checksum incrementally (RFC 1624) and returns the new TTL.
    #[inline]
    pub fn decrement_ttl_update_checksum(&mut self) -> Result<u8> {
        let ttl = self.ttl();
        let new_ttl = super::decremented(Proto::Ipv4, ttl)?;
        let proto = self.buffer.as_ref()[field::PROTOCOL];
        let old = u16::from_be_bytes([ttl, proto]);
        let new = u16::from_be_bytes([new_ttl, proto]);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_ttl(new_ttl);
        self.set_checksum(c);
        Ok(new_ttl)
    }

    /// Rewrites the DSCP (DiffServ marking) and patches the checksum incrementally.
    #[inline]
    pub fn set_dscp_update_checksum(&mut self, dscp: u8) {
        let d = self.buffer.as_ref();
        let old = u16::from_be_bytes([d[field::VER_IHL], d[field::DSCP_ECN]]);
        self.set_dscp(dscp);
        let d = self.buffer.as_ref();
        let new = u16::from_be_bytes([d[field::VER_IHL], d[field::DSCP_ECN]]);
        let c = checksum::update_u16(self.checksum(), old, new);
        self.set_checksum(c)
    }

    /// Mutable payload (IHL×4 to total length).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The value form of an IPv4 header (without options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub next_header: IpProtocol,
    /// Bytes after the header (total length − IHL×4).
    pub payload_len: usize,
    pub hop_limit: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes, a multiple of 8.
    pub frag_offset: u16,
}

impl Ipv4Repr {
    /// Reads a checked packet; verifies the header checksum ([`Error::Checksum`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum { proto: Proto::Ipv4 });
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            hop_limit: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// Header length when emitted (always 20: no options).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header and its checksum; the buffer must be ≥ 20 bytes and
    /// `payload_len` ≤ 65515. The payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        let d = packet.buffer.as_mut();
        d[field::VER_IHL] = 0x45;
        d[field::DSCP_ECN] = (self.dscp << 2) | (self.ecn & 0x03);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        let flg = if self.dont_frag { 0x4000 } else { 0 }
            | if self.more_frags { 0x2000 } else { 0 }
            | ((self.frag_offset >> 3) & 0x1fff);
        packet.set_flg_off(flg);
        packet.set_ttl(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The window path agrees with the general one (the view's own checks) on headers
        /// with and without options, cut anywhere, with any byte changed (the checksum
        /// fixed or not).
        #[test]
        fn check_header_agrees(
            options in 0usize..11,
            payload in 0usize..40,
            cut in any::<prop::sample::Index>(),
            cut_it in any::<bool>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            fix in any::<bool>(),
        ) {
            let hl = 20 + 4 * options;
            let mut d = vec![0u8; hl + payload];
            for (i, b) in d.iter_mut().enumerate() {
                *b = i as u8 ^ 0x5a;
            }
            d[0] = 0x40 | (hl / 4) as u8;
            d[2..4].copy_from_slice(&((hl + payload) as u16).to_be_bytes());
            d[9] = 17;
            for (at, b) in &flips {
                let i = at.index(hl);
                d[i] = *b;
            }
            if fix {
                let n = usize::from(d[0] & 0x0f) * 4;
                if n >= 20 && n <= d.len() {
                    d[10..12].fill(0);
                    let c = !checksum::data(&d[..n]);
                    d[10..12].copy_from_slice(&c.to_be_bytes());
                }
            }
            let end = if cut_it { cut.index(d.len() + 1) } else { d.len() };
            let b = &d[..end];
            // The general path is `new_checked` and `verify_checksum`, nothing else.
            prop_assert_eq!(check_header(b), check_header_general(b));
        }
    }

    #[test]
    fn check_header_reads_a_valid_header() {
        let h = check_header(&UDP_PACKET).unwrap();
        assert_eq!(h.dst, u32::from(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(h.total_len, 33);
        assert_eq!(h.protocol, 17);
        let mut bad = UDP_PACKET;
        bad[11] ^= 1;
        assert_eq!(check_header(&bad), Err(HeaderError::BadChecksum));
        assert_eq!(check_header(&UDP_PACKET[..19]), Err(HeaderError::Malformed));
        assert_eq!(check_header(&UDP_PACKET[..32]), Err(HeaderError::Malformed));
    }

    // scapy 2.5: IP(src="192.0.2.1", dst="198.51.100.7", ttl=64, id=0x1c46, flags="DF",
    //               tos=0xb8)/UDP(sport=1701, dport=1701)/b"hello"
    pub(crate) const UDP_PACKET: [u8; 33] = [
        0x45, 0xb8, 0x00, 0x21, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x31, 0x92, 0xc0, 0x00, 0x02,
        0x01, 0xc6, 0x33, 0x64, 0x07, 0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0d, 0xc2, 0x7b, 0x68, 0x65,
        0x6c, 0x6c, 0x6f,
    ];
    // scapy 2.5: IP(src="10.1.1.1", dst="10.2.2.2", ttl=1, id=7,
    //   options=[IPOption_RR(routers=["0.0.0.0"])], proto=17)/UDP(sport=53, dport=5353)/b"xy"
    const WITH_OPTIONS: [u8; 38] = [
        0x47, 0x00, 0x00, 0x26, 0x00, 0x07, 0x00, 0x00, 0x01, 0x11, 0x95, 0xb4, 0x0a, 0x01, 0x01,
        0x01, 0x0a, 0x02, 0x02, 0x02, 0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x35,
        0x14, 0xe9, 0x00, 0x0a, 0x5b, 0x3d, 0x78, 0x79,
    ];
    // scapy 2.5: IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=185, ttl=255, proto=1)
    //   /(b"\x00" * 8)
    const FRAGMENT: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x20, 0xb9, 0xff, 0x01, 0x87, 0x24, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parse_real_udp_packet() {
        let p = Ipv4Packet::new_checked(&UDP_PACKET[..]).unwrap();
        assert_eq!((p.version(), p.header_len(), p.total_len()), (4, 20, 33));
        assert_eq!((p.dscp(), p.ecn()), (46, 0)); // EF
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!((p.ttl(), p.next_header()), (64, IpProtocol::Udp));
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 7));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 13);
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 13);
        let mut buf = UDP_PACKET;
        buf[..20].fill(0xee);
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, UDP_PACKET);
    }

    #[test]
    fn options_are_skipped() {
        let p = Ipv4Packet::new_checked(&WITH_OPTIONS[..]).unwrap();
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.options(), &WITH_OPTIONS[20..28]);
        assert_eq!(&p.payload()[..4], &[0x00, 0x35, 0x14, 0xe9]); // UDP ports 53, 5353
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 10);
        assert_eq!(r.hop_limit, 1);
        // Re-emitting drops the options but keeps the payload right.
        let mut out = vec![0u8; r.buffer_len() + r.payload_len];
        let mut q = Ipv4Packet::new_unchecked(&mut out[..]);
        r.emit(&mut q);
        q.payload_mut().copy_from_slice(p.payload());
        let q = Ipv4Packet::new_checked(&out[..]).unwrap();
        assert_eq!((q.header_len(), q.total_len()), (20, 30));
        assert!(q.verify_checksum());
        assert_eq!(q.payload(), p.payload());
        assert_eq!(Ipv4Repr::parse(&q).unwrap(), r);
    }

    #[test]
    fn real_fragment() {
        let p = Ipv4Packet::new_checked(&FRAGMENT[..]).unwrap();
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 185 * 8);
        assert_eq!(p.next_header(), IpProtocol::Icmp);
        let r = Ipv4Repr::parse(&p).unwrap();
        let mut buf = [0u8; 20];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, FRAGMENT[..20]);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut padded = [0u8; 46];
        padded[..33].copy_from_slice(&UDP_PACKET);
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), &UDP_PACKET[20..]);
    }

    #[test]
    fn malformed_headers() {
        let trunc = |needed, got| {
            Err(Error::Truncated {
                proto: Proto::Ipv4,
                needed,
                got,
            })
        };
        assert_eq!(Ipv4Packet::new_checked(&UDP_PACKET[..19]), trunc(20, 19));
        assert_eq!(Ipv4Packet::new_checked(&[][..]), trunc(20, 0));
        // IHL < 5.
        for ihl in 0..5u8 {
            let mut b = UDP_PACKET;
            b[0] = 0x40 | ihl;
            assert!(
                matches!(
                    Ipv4Packet::new_checked(&b[..]),
                    Err(Error::Malformed { .. })
                ),
                "ihl {ihl}"
            );
        }
        // IHL beyond the buffer: 15 × 4 = 60 > 33.
        let mut b = UDP_PACKET;
        b[0] = 0x4f;
        assert_eq!(Ipv4Packet::new_checked(&b[..]), trunc(60, 33));
        // Total length beyond the buffer.
        let mut b = UDP_PACKET;
        b[2..4].copy_from_slice(&34u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&b[..]), trunc(34, 33));
        // Total length shorter than the header.
        let mut b = UDP_PACKET;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed { value: 19, .. })
        ));
        // Header with options, total length between 20 and IHL×4.
        let mut b = WITH_OPTIONS;
        b[2..4].copy_from_slice(&24u16.to_be_bytes());
        assert!(Ipv4Packet::new_checked(&b[..]).is_err());
        // Wrong version.
        let mut b = UDP_PACKET;
        b[0] = 0x65;
        assert!(matches!(
            Ipv4Packet::new_checked(&b[..]),
            Err(Error::Malformed { value: 6, .. })
        ));
        // Bad checksum: the view reads it, the Repr refuses it.
        let mut b = UDP_PACKET;
        b[11] ^= 1;
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(
            Ipv4Repr::parse(&p),
            Err(Error::Checksum { proto: Proto::Ipv4 })
        );
    }

    #[test]
    fn checksum_verifies_with_and_without_options() {
        // The 20-byte header (fixed-size path) and one with 4 bytes of options (the general
        // path): good, then each byte of the header flipped in turn.
        for ihl in [5u8, 6] {
            let hl = usize::from(ihl) * 4;
            let mut b = vec![0u8; hl + 8];
            b[0] = 0x40 | ihl;
            b[2..4].copy_from_slice(&((hl + 8) as u16).to_be_bytes());
            b[8] = 64;
            b[9] = 17;
            b[12..20].copy_from_slice(&[192, 0, 2, 1, 198, 51, 100, 7]);
            if ihl == 6 {
                b[20..24].copy_from_slice(&[0x94, 0x04, 0, 0]); // Router Alert
            }
            Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
            assert!(Ipv4Packet::new_checked(&b[..]).unwrap().verify_checksum());
            for i in 1..hl {
                let mut c = b.clone();
                c[i] ^= 0x10;
                assert!(
                    !Ipv4Packet::new_unchecked(&c[..]).verify_checksum(),
                    "ihl {ihl} byte {i}"
                );
            }
        }
    }

    #[test]
    fn ttl_zero_and_one_are_not_forwarded() {
        for ttl in [0u8, 1] {
            let mut b = UDP_PACKET;
            b[8] = ttl;
            Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
            let before = b.to_vec();
            let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
            assert_eq!(
                p.decrement_ttl_update_checksum(),
                Err(Error::TtlExpired {
                    proto: Proto::Ipv4,
                    ttl
                })
            );
            assert_eq!(p.into_inner().to_vec(), before, "packet untouched");
        }
        let mut b = UDP_PACKET;
        b[8] = 2;
        Ipv4Packet::new_unchecked(&mut b[..]).fill_checksum();
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl_update_checksum(), Ok(1));
        assert!(p.verify_checksum());
        assert!(p.decrement_ttl_update_checksum().is_err());
    }

    #[test]
    fn real_packet_ttl_decrement() {
        let mut b = UDP_PACKET;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.decrement_ttl_update_checksum(), Ok(63));
        assert!(p.verify_checksum());
        // scapy 2.5 with ttl=63 computes checksum 0x3292.
        assert_eq!(p.checksum(), 0x3292);
        p.set_dscp_update_checksum(10);
        assert!(p.verify_checksum());
        assert_eq!(p.dscp(), 10);
    }

    #[test]
    fn setters() {
        let mut b = UDP_PACKET;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_more_frags(true);
        p.set_frag_offset(1480);
        p.set_dont_frag(false);
        assert!(p.more_frags() && !p.dont_frag());
        assert_eq!(p.frag_offset(), 1480);
        p.clear_flags();
        assert!(!p.more_frags() && p.frag_offset() == 1480);
        p.set_ecn(3);
        p.set_dscp(46);
        assert_eq!(p.tos(), 0xbb);
        p.set_src_addr(Ipv4Addr::new(1, 2, 3, 4));
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(1, 2, 3, 4));
    }

    fn arb_repr() -> impl Strategy<Value = Ipv4Repr> {
        (
            (
                any::<[u8; 4]>(),
                any::<[u8; 4]>(),
                any::<u8>(),
                0usize..=65515,
                any::<u8>(),
            ),
            (
                0u8..64,
                0u8..4,
                any::<u16>(),
                any::<bool>(),
                any::<bool>(),
                0u16..8192,
            ),
        )
            .prop_map(
                |((s, d, p, len, ttl), (dscp, ecn, ident, df, mf, off))| Ipv4Repr {
                    src_addr: Ipv4Addr::from(s),
                    dst_addr: Ipv4Addr::from(d),
                    next_header: IpProtocol::from(p),
                    payload_len: len,
                    hop_limit: ttl,
                    dscp,
                    ecn,
                    ident,
                    dont_frag: df,
                    more_frags: mf,
                    frag_offset: off * 8,
                },
            )
    }

    proptest! {
        #[test]
        fn repr_round_trip(repr in arb_repr()) {
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&p).unwrap(), repr);
        }

        #[test]
        fn protocol_numbers_round_trip(v in any::<u8>()) {
            prop_assert_eq!(u8::from(IpProtocol::from(v)), v);
        }

        #[test]
        fn decrement_keeps_checksum_valid(repr in arb_repr()) {
            let mut buf = vec![0u8; 20 + repr.payload_len.min(64)];
            let repr = Ipv4Repr { payload_len: buf.len() - 20, ..repr };
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
            match p.decrement_ttl_update_checksum() {
                Ok(t) => {
                    prop_assert_eq!(t, repr.hop_limit - 1);
                    prop_assert!(p.verify_checksum());
                }
                Err(_) => prop_assert!(repr.hop_limit <= 1),
            }
        }

        #[test]
        fn random_bytes_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..100), v4 in any::<bool>()) {
            if v4 && !data.is_empty() {
                data[0] = 0x40 | (data[0] & 0x0f); // reach past the version check more often
            }
            if let Ok(mut p) = Ipv4Packet::new_checked(&mut data[..]) {
                let _ = (p.dscp(), p.ecn(), p.ident(), p.dont_frag(), p.more_frags(), p.frag_offset());
                let _ = (p.ttl(), p.next_header(), p.src_addr(), p.dst_addr(), p.verify_checksum());
                let _ = (p.options().len(), p.payload().len());
                let _ = Ipv4Repr::parse(&p);
                let _ = p.decrement_ttl_update_checksum();
                p.fill_checksum();
                prop_assert!(p.verify_checksum());
                let _ = p.payload_mut();
            }
        }
    }
}
