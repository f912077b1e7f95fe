//! AVPs (RFC 6733 §4): framing, the owned [`Avp`], and the basic data types.
//!
//! An AVP is Code (32 bits), Flags (V vendor-specific, M mandatory, P reserved since
//! RFC 6733 but still carried; the other five bits are reserved and must be zero), AVP Length
//! (24 bits, header + data, *without* the padding), Vendor-Id when V is set, the data, and
//! zero padding to a multiple of 4 bytes. [`RawAvp`] is a borrowed AVP found by the framing
//! walk; [`Avp`] owns its data and decodes it on demand with the `as_*` readers.
//!
//! Fixed-size types whose data has the wrong size are [`Error::InvalidDataLength`] (answered
//! with DIAMETER_INVALID_AVP_LENGTH); data of the right size but not a valid value (an
//! unknown address family size, text that is not UTF-8) is [`Error::InvalidAvpValue`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codes::code;
use super::{Error, Result, MAX_GROUP_DEPTH, MAX_LEN};

/// V bit: a Vendor-Id follows the AVP Length.
pub const FLAG_VENDOR: u8 = 0x80;
/// M bit: the receiver must understand the AVP or refuse the message.
pub const FLAG_MANDATORY: u8 = 0x40;
/// P bit (end-to-end security, deprecated by RFC 6733 but kept when set).
pub const FLAG_PROTECTED: u8 = 0x20;
const FLAGS_RESERVED: u8 = 0x1f;

/// Whether an AVP of this code and vendor is of type Grouped in the dictionary of this
/// module (base protocol and RFC 4004). The framing walk descends into these.
pub fn is_grouped(code: u32, vendor: Option<u32>) -> bool {
    vendor.is_none()
        && matches!(
            code,
            code::VENDOR_SPECIFIC_APPLICATION_ID
                | code::FAILED_AVP
                | code::PROXY_INFO
                | code::EXPERIMENTAL_RESULT
                | code::MIP_MN_AAA_AUTH
                | code::MIP_MN_TO_FA_MSA
                | code::MIP_FA_TO_MN_MSA
                | code::MIP_FA_TO_HA_MSA
                | code::MIP_HA_TO_FA_MSA
                | code::MIP_MN_TO_HA_MSA
                | code::MIP_HA_TO_MN_MSA
                | code::MIP_ORIGINATING_FOREIGN_AAA
        )
}

/// An AVP found in a buffer by the framing walk, borrowing its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAvp<'a> {
    /// Offset of the AVP header in the buffer given to the walk (plus the walk's base).
    pub at: usize,
    /// AVP Code.
    pub code: u32,
    /// The flags byte as received.
    pub flags: u8,
    /// Vendor-Id when the V bit is set.
    pub vendor: Option<u32>,
    /// The data (AVP Length minus the header; no padding).
    pub data: &'a [u8],
}

impl RawAvp<'_> {
    /// Whether the M bit is set.
    pub fn mandatory(&self) -> bool {
        self.flags & FLAG_MANDATORY != 0
    }

    /// The owned AVP.
    pub fn to_owned(&self) -> Avp {
        Avp {
            code: self.code,
            vendor: self.vendor,
            mandatory: self.mandatory(),
            protected: self.flags & FLAG_PROTECTED != 0,
            data: self.data.to_vec(),
        }
    }
}

/// Reads the AVP at `off` of `b`; returns it and the offset after its padding. `base` is
/// added to offsets in the result and errors.
pub(crate) fn read_one(b: &[u8], off: usize, base: usize) -> Result<(RawAvp<'_>, usize)> {
    let at = base + off;
    let rest = b.get(off..).unwrap_or(&[]);
    if rest.len() < 8 {
        let code = match rest {
            [a, b2, c, d, ..] => u32::from_be_bytes([*a, *b2, *c, *d]),
            _ => 0,
        };
        return Err(Error::InvalidAvpLength {
            at,
            code,
            length: rest.len(),
            why: "(bytes left): an AVP header needs 8",
        });
    }
    let code = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let flags = rest[4];
    let length = usize::from(rest[5]) << 16 | usize::from(rest[6]) << 8 | usize::from(rest[7]);
    if flags & FLAGS_RESERVED != 0 {
        return Err(Error::InvalidAvpBits { at, code, flags });
    }
    let hdr = if flags & FLAG_VENDOR != 0 { 12 } else { 8 };
    if length < hdr {
        return Err(Error::InvalidAvpLength {
            at,
            code,
            length,
            why: if hdr == 12 {
                "is below 12, the header with a Vendor-Id"
            } else {
                "is below 8, the AVP header"
            },
        });
    }
    if length > rest.len() {
        return Err(Error::InvalidAvpLength {
            at,
            code,
            length,
            why: "runs past the message",
        });
    }
    let padded = length.div_ceil(4) * 4;
    if padded > rest.len() {
        return Err(Error::InvalidAvpLength {
            at,
            code,
            length,
            why: "leaves no room for the padding to 4 bytes",
        });
    }
    let vendor = (hdr == 12).then(|| u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]));
    Ok((
        RawAvp {
            at,
            code,
            flags,
            vendor,
            data: &rest[hdr..length],
        },
        off + padded,
    ))
}

/// Checks the framing of the AVP list `b`, which is nested inside `depth` grouped AVPs,
/// descending into the grouped AVPs of the dictionary ([`is_grouped`]).
pub(crate) fn validate(b: &[u8], base: usize, depth: usize) -> Result<()> {
    let mut off = 0;
    while off < b.len() {
        let (a, next) = read_one(b, off, base)?;
        if is_grouped(a.code, a.vendor) {
            if depth + 1 > MAX_GROUP_DEPTH {
                return Err(Error::NestingTooDeep {
                    at: a.at,
                    code: a.code,
                    max: MAX_GROUP_DEPTH,
                });
            }
            let hdr = if a.vendor.is_some() { 12 } else { 8 };
            validate(a.data, a.at + hdr, depth + 1)?;
        }
        off = next;
    }
    Ok(())
}

/// Iterator over an AVP list whose framing was validated; stops at the first bad AVP (which
/// validation has ruled out).
#[derive(Debug, Clone)]
pub struct RawAvps<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) off: usize,
    pub(crate) base: usize,
}

impl<'a> Iterator for RawAvps<'a> {
    type Item = RawAvp<'a>;
    fn next(&mut self) -> Option<RawAvp<'a>> {
        if self.off >= self.buf.len() {
            return None;
        }
        match read_one(self.buf, self.off, self.base) {
            Ok((a, next)) => {
                self.off = next;
                Some(a)
            }
            Err(_) => {
                self.off = self.buf.len();
                None
            }
        }
    }
}

/// Parses an AVP list into owned AVPs, checking grouped nesting from `depth`.
pub(crate) fn parse_list(b: &[u8], depth: usize) -> Result<Vec<Avp>> {
    validate(b, 0, depth)?;
    Ok(RawAvps {
        buf: b,
        off: 0,
        base: 0,
    }
    .map(|a| a.to_owned())
    .collect())
}

/// One owned AVP. The V bit is `vendor.is_some()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avp {
    /// AVP Code.
    pub code: u32,
    /// Vendor-Id (V bit set) or none.
    pub vendor: Option<u32>,
    /// M bit.
    pub mandatory: bool,
    /// P bit.
    pub protected: bool,
    /// The data, without padding.
    pub data: Vec<u8>,
}

fn fixed<const N: usize>(a: &Avp, expected: &'static str) -> Result<[u8; N]> {
    a.data
        .as_slice()
        .try_into()
        .map_err(|_| Error::InvalidDataLength {
            code: a.code,
            len: a.data.len(),
            expected,
        })
}

impl Avp {
    /// An AVP of vendor 0 with the M bit set (as the base protocol's AVPs mostly are) and
    /// `data` as its OctetString value.
    pub fn new(code: u32, data: impl Into<Vec<u8>>) -> Avp {
        Avp {
            code,
            vendor: None,
            mandatory: true,
            protected: false,
            data: data.into(),
        }
    }
    /// The same AVP with the V bit and this Vendor-Id.
    pub fn with_vendor(mut self, vendor: u32) -> Avp {
        self.vendor = Some(vendor);
        self
    }
    /// The same AVP with the M bit cleared.
    pub fn optional(mut self) -> Avp {
        self.mandatory = false;
        self
    }
    /// Unsigned32 (also Enumerated values, which RFC 6733 §4.3.1 derives from Integer32 and
    /// which are never negative in the base protocol or RFC 4004).
    pub fn u32(code: u32, v: u32) -> Avp {
        Avp::new(code, v.to_be_bytes())
    }
    /// Unsigned64.
    pub fn u64(code: u32, v: u64) -> Avp {
        Avp::new(code, v.to_be_bytes())
    }
    /// Integer32 / Enumerated.
    pub fn i32(code: u32, v: i32) -> Avp {
        Avp::new(code, v.to_be_bytes())
    }
    /// Integer64.
    pub fn i64(code: u32, v: i64) -> Avp {
        Avp::new(code, v.to_be_bytes())
    }
    /// Float32 (IEEE 754 binary32, big endian).
    pub fn f32(code: u32, v: f32) -> Avp {
        Avp::new(code, v.to_bits().to_be_bytes())
    }
    /// Float64.
    pub fn f64(code: u32, v: f64) -> Avp {
        Avp::new(code, v.to_bits().to_be_bytes())
    }
    /// UTF8String, DiameterIdentity (pass an FQDN) or any text.
    pub fn text(code: u32, s: &str) -> Avp {
        Avp::new(code, s.as_bytes())
    }
    /// Address.
    pub fn address(code: u32, a: &Address) -> Avp {
        let mut d = Vec::with_capacity(18);
        a.encode(&mut d);
        Avp::new(code, d)
    }
    /// Time.
    pub fn time(code: u32, t: Time) -> Avp {
        Avp::new(code, t.0.to_be_bytes())
    }
    /// DiameterURI.
    pub fn uri(code: u32, u: &DiameterUri) -> Avp {
        Avp::new(code, u.to_string().into_bytes())
    }
    /// Grouped: the children encoded one after another, each padded.
    pub fn grouped(code: u32, children: &[Avp]) -> Result<Avp> {
        let mut d = Vec::new();
        for c in children {
            c.emit(&mut d)?;
        }
        Ok(Avp::new(code, d))
    }

    /// Length of the header (8, or 12 with a Vendor-Id).
    pub fn header_len(&self) -> usize {
        if self.vendor.is_some() {
            12
        } else {
            8
        }
    }
    /// Bytes this AVP takes on the wire, padding included.
    pub fn wire_len(&self) -> usize {
        (self.header_len() + self.data.len()).div_ceil(4) * 4
    }

    /// Appends the AVP (header, data, zero padding) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let length = self.header_len() + self.data.len();
        if length > MAX_LEN {
            return Err(Error::AvpTooLong {
                code: self.code,
                len: self.data.len(),
            });
        }
        let mut flags = 0;
        if self.vendor.is_some() {
            flags |= FLAG_VENDOR;
        }
        if self.mandatory {
            flags |= FLAG_MANDATORY;
        }
        if self.protected {
            flags |= FLAG_PROTECTED;
        }
        out.extend_from_slice(&self.code.to_be_bytes());
        out.push(flags);
        out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
        if let Some(v) = self.vendor {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out.resize(out.len() + (self.wire_len() - length), 0);
        Ok(())
    }

    /// The data as Unsigned32 (or Enumerated).
    pub fn as_u32(&self) -> Result<u32> {
        fixed::<4>(self, "4 (Unsigned32)").map(u32::from_be_bytes)
    }
    /// The data as Unsigned64.
    pub fn as_u64(&self) -> Result<u64> {
        fixed::<8>(self, "8 (Unsigned64)").map(u64::from_be_bytes)
    }
    /// The data as Integer32 (or Enumerated).
    pub fn as_i32(&self) -> Result<i32> {
        fixed::<4>(self, "4 (Integer32)").map(i32::from_be_bytes)
    }
    /// The data as Integer64.
    pub fn as_i64(&self) -> Result<i64> {
        fixed::<8>(self, "8 (Integer64)").map(i64::from_be_bytes)
    }
    /// The data as Float32.
    pub fn as_f32(&self) -> Result<f32> {
        fixed::<4>(self, "4 (Float32)").map(|b| f32::from_bits(u32::from_be_bytes(b)))
    }
    /// The data as Float64.
    pub fn as_f64(&self) -> Result<f64> {
        fixed::<8>(self, "8 (Float64)").map(|b| f64::from_bits(u64::from_be_bytes(b)))
    }
    /// The data as Time.
    pub fn as_time(&self) -> Result<Time> {
        fixed::<4>(self, "4 (Time)").map(|b| Time(u32::from_be_bytes(b)))
    }
    /// The data as UTF8String.
    pub fn as_utf8(&self) -> Result<&str> {
        core::str::from_utf8(&self.data).map_err(|_| Error::InvalidAvpValue {
            code: self.code,
            why: "UTF8String data is not valid UTF-8",
        })
    }
    /// The data as DiameterIdentity (RFC 6733 §4.3.1: an FQDN or realm; here: non-empty
    /// printable ASCII without spaces).
    pub fn as_identity(&self) -> Result<&str> {
        if self.data.is_empty() || !self.data.iter().all(|c| c.is_ascii_graphic()) {
            return Err(Error::InvalidAvpValue {
                code: self.code,
                why: "DiameterIdentity is empty or not printable ASCII",
            });
        }
        self.as_utf8()
    }
    /// The data as Address.
    pub fn as_address(&self) -> Result<Address> {
        Address::decode(self.code, &self.data)
    }
    /// The data as DiameterURI.
    pub fn as_uri(&self) -> Result<DiameterUri> {
        DiameterUri::parse(self.as_utf8()?).ok_or(Error::InvalidAvpValue {
            code: self.code,
            why: "not an aaa:// or aaas:// DiameterURI",
        })
    }
    /// The data as Grouped: the child AVPs. Nested grouped AVPs of the dictionary are
    /// checked down to [`MAX_GROUP_DEPTH`] counting this one as the first level.
    pub fn as_grouped(&self) -> Result<Vec<Avp>> {
        parse_list(&self.data, 1)
    }
}

/// Address (RFC 6733 §4.3.1): a 2-byte IANA address family and the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// Family 1.
    V4(Ipv4Addr),
    /// Family 2.
    V6(Ipv6Addr),
    /// Any other family, kept as it came.
    Other { family: u16, bytes: Vec<u8> },
}

impl Address {
    /// Address family 1 (IPv4).
    pub const FAMILY_IPV4: u16 = 1;
    /// Address family 2 (IPv6).
    pub const FAMILY_IPV6: u16 = 2;

    fn decode(code: u32, d: &[u8]) -> Result<Address> {
        let bad = |expected| Error::InvalidDataLength {
            code,
            len: d.len(),
            expected,
        };
        let [f0, f1, rest @ ..] = d else {
            return Err(bad("at least 2 (Address family)"));
        };
        match u16::from_be_bytes([*f0, *f1]) {
            Address::FAMILY_IPV4 => <[u8; 4]>::try_from(rest)
                .map(|a| Address::V4(a.into()))
                .map_err(|_| bad("6 (IPv4 Address)")),
            Address::FAMILY_IPV6 => <[u8; 16]>::try_from(rest)
                .map(|a| Address::V6(a.into()))
                .map_err(|_| bad("18 (IPv6 Address)")),
            family => Ok(Address::Other {
                family,
                bytes: rest.to_vec(),
            }),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Address::V4(a) => {
                out.extend_from_slice(&Address::FAMILY_IPV4.to_be_bytes());
                out.extend_from_slice(&a.octets());
            }
            Address::V6(a) => {
                out.extend_from_slice(&Address::FAMILY_IPV6.to_be_bytes());
                out.extend_from_slice(&a.octets());
            }
            Address::Other { family, bytes } => {
                out.extend_from_slice(&family.to_be_bytes());
                out.extend_from_slice(bytes);
            }
        }
    }

    /// The IP address, for families 1 and 2.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Address::V4(a) => Some(IpAddr::V4(*a)),
            Address::V6(a) => Some(IpAddr::V6(*a)),
            Address::Other { .. } => None,
        }
    }
}

impl From<IpAddr> for Address {
    fn from(a: IpAddr) -> Address {
        match a {
            IpAddr::V4(a) => Address::V4(a),
            IpAddr::V6(a) => Address::V6(a),
        }
    }
}

/// Time (RFC 6733 §4.3.1): seconds since 1900-01-01 UTC as in NTP, 32 bits. Values with
/// the top bit clear are read as after 2036-02-07 (the SNTP rule of RFC 4330 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub u32);

impl Time {
    /// Seconds from 1900-01-01 to 1970-01-01.
    pub const UNIX_OFFSET: u64 = 2_208_988_800;

    /// The Time of a Unix timestamp (seconds); wraps modulo 2^32 as the field does.
    pub fn from_unix(secs: u64) -> Time {
        Time(secs.wrapping_add(Time::UNIX_OFFSET) as u32)
    }
    /// Seconds since 1970, for times between 1968 and 2104.
    pub fn to_unix(self) -> i64 {
        let ntp = if self.0 & 0x8000_0000 != 0 {
            u64::from(self.0)
        } else {
            u64::from(self.0) + (1 << 32)
        };
        ntp as i64 - Time::UNIX_OFFSET as i64
    }
}

/// DiameterURI (RFC 6733 §4.3.1), the minimal form used to name peers:
/// `aaa://FQDN[:port][;transport=tcp|sctp|udp][;protocol=diameter|radius|tacacs+]`, or
/// `aaas://` for TLS/DTLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiameterUri {
    /// `aaas` (secure) rather than `aaa`.
    pub secure: bool,
    /// The FQDN (or address literal).
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// `transport=` value, when given.
    pub transport: Option<String>,
    /// `protocol=` value, when given.
    pub protocol: Option<String>,
}

impl DiameterUri {
    /// Parses the textual form; `None` when it is not one.
    pub fn parse(s: &str) -> Option<DiameterUri> {
        let (secure, rest) = if let Some(r) = s.strip_prefix("aaas://") {
            (true, r)
        } else {
            (false, s.strip_prefix("aaa://")?)
        };
        let mut parts = rest.split(';');
        let hostport = parts.next()?;
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p.parse::<u16>().ok()?)),
            _ => (hostport, None),
        };
        if host.is_empty() || !host.bytes().all(|c| c.is_ascii_graphic() && c != b';') {
            return None;
        }
        let mut uri = DiameterUri {
            secure,
            host: host.to_string(),
            port,
            transport: None,
            protocol: None,
        };
        for p in parts {
            match p.split_once('=')? {
                ("transport", v @ ("tcp" | "sctp" | "udp")) if uri.transport.is_none() => {
                    uri.transport = Some(v.to_string())
                }
                ("protocol", v @ ("diameter" | "radius" | "tacacs+")) if uri.protocol.is_none() => {
                    uri.protocol = Some(v.to_string())
                }
                _ => return None,
            }
        }
        Some(uri)
    }
}

impl fmt::Display for DiameterUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            if self.secure { "aaas" } else { "aaa" },
            self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(t) = &self.transport {
            write!(f, ";transport={t}")?;
        }
        if let Some(p) = &self.protocol {
            write!(f, ";protocol={p}")?;
        }
        Ok(())
    }
}
