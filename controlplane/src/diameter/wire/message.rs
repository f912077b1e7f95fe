//! The Diameter header (RFC 6733 §3) and whole messages.

use super::avp::{self, Avp, RawAvp, RawAvps};
use super::{Error, Result, HEADER_LEN, MAX_LEN};

const FLAG_REQUEST: u8 = 0x80;
const FLAG_PROXIABLE: u8 = 0x40;
const FLAG_ERROR: u8 = 0x20;
const FLAG_RETRANSMIT: u8 = 0x10;
const FLAGS_RESERVED: u8 = 0x0f;

fn u24(b: &[u8]) -> usize {
    usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2])
}

/// How many bytes the message at the start of a stream buffer takes, from its first 4
/// bytes (version and Message Length): `Ok(None)` while fewer than 4 bytes are there, an
/// error when the version or length is impossible (the stream cannot be resynchronised).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(h) = buf.get(..4) else {
        return Ok(None);
    };
    if h[0] != 1 {
        return Err(Error::UnsupportedVersion { version: h[0] });
    }
    let length = u24(&h[1..4]);
    if length < HEADER_LEN || !length.is_multiple_of(4) {
        return Err(Error::InvalidMessageLength { length });
    }
    Ok(Some(length))
}

/// The header fields of a message (the version is always 1, the length is computed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// R bit: a request (else an answer).
    pub request: bool,
    /// P bit: may be proxied, relayed or redirected.
    pub proxiable: bool,
    /// E bit: an answer carrying a protocol error (3xxx); never on a request.
    pub error: bool,
    /// T bit: a possibly retransmitted request (after a link failover).
    pub retransmit: bool,
    /// Command Code (24 bits).
    pub command: u32,
    /// Application-ID.
    pub application: u32,
    /// Hop-by-Hop Identifier.
    pub hop_by_hop: u32,
    /// End-to-End Identifier.
    pub end_to_end: u32,
}

impl Header {
    fn flags(&self) -> u8 {
        let mut f = 0;
        for (b, bit) in [
            (self.request, FLAG_REQUEST),
            (self.proxiable, FLAG_PROXIABLE),
            (self.error, FLAG_ERROR),
            (self.retransmit, FLAG_RETRANSMIT),
        ] {
            if b {
                f |= bit;
            }
        }
        f
    }
}

/// A zero-copy view of one validated Diameter message (see the [module docs](super)).
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    buf: &'a [u8],
}

impl<'a> MessageView<'a> {
    /// Validates the header and every AVP of the message at the start of `buf`; bytes after
    /// Message Length are not part of it (on a stream they are the next message).
    pub fn new_checked(buf: &'a [u8]) -> Result<MessageView<'a>> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated { len: buf.len() });
        }
        let length = frame_len(buf)?.unwrap_or(0);
        if length > buf.len() {
            return Err(Error::Incomplete {
                length,
                have: buf.len(),
            });
        }
        let flags = buf[4];
        if flags & FLAGS_RESERVED != 0 || (flags & FLAG_REQUEST != 0 && flags & FLAG_ERROR != 0) {
            return Err(Error::InvalidHdrBits { flags });
        }
        let buf = &buf[..length];
        avp::validate(&buf[HEADER_LEN..], HEADER_LEN, 0)?;
        Ok(MessageView { buf })
    }

    /// The message bytes (Message Length of them).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// Message Length.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Always false: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }
    fn u32_at(&self, i: usize) -> u32 {
        u32::from_be_bytes([
            self.buf[i],
            self.buf[i + 1],
            self.buf[i + 2],
            self.buf[i + 3],
        ])
    }
    /// The header fields.
    pub fn header(&self) -> Header {
        let f = self.buf[4];
        Header {
            request: f & FLAG_REQUEST != 0,
            proxiable: f & FLAG_PROXIABLE != 0,
            error: f & FLAG_ERROR != 0,
            retransmit: f & FLAG_RETRANSMIT != 0,
            command: u24(&self.buf[5..8]) as u32,
            application: self.u32_at(8),
            hop_by_hop: self.u32_at(12),
            end_to_end: self.u32_at(16),
        }
    }
    /// The top-level AVPs (offsets are from the start of the message).
    pub fn avps(&self) -> RawAvps<'a> {
        RawAvps {
            buf: &self.buf[HEADER_LEN..],
            off: 0,
            base: HEADER_LEN,
        }
    }
    /// The first top-level AVP of vendor 0 with this code.
    pub fn find(&self, code: u32) -> Option<RawAvp<'a>> {
        self.avps().find(|a| a.code == code && a.vendor.is_none())
    }
    /// Refuses the first top-level AVP with the M bit that `known(code, vendor)` does not
    /// understand, as [`Error::AvpUnsupported`] (DIAMETER_AVP_UNSUPPORTED). AVPs inside
    /// grouped AVPs are the caller's to check with the grouped AVP's grammar.
    pub fn check_mandatory(&self, known: impl Fn(u32, Option<u32>) -> bool) -> Result<()> {
        match self
            .avps()
            .find(|a| a.mandatory() && !known(a.code, a.vendor))
        {
            Some(a) => Err(Error::AvpUnsupported {
                at: a.at,
                code: a.code,
                vendor: a.vendor.unwrap_or(0),
            }),
            None => Ok(()),
        }
    }
}

/// An owned Diameter message: header and AVPs in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Header fields.
    pub header: Header,
    /// The top-level AVPs.
    pub avps: Vec<Avp>,
}

impl Message {
    /// A request (R bit, P bit set as most applications want) with no AVPs yet.
    pub fn request(command: u32, application: u32, hop_by_hop: u32, end_to_end: u32) -> Self {
        Message {
            header: Header {
                request: true,
                proxiable: true,
                command,
                application,
                hop_by_hop,
                end_to_end,
                ..Header::default()
            },
            avps: Vec::new(),
        }
    }
    /// The answer to `req` (RFC 6733 §6.2): same command, application, identifiers and P
    /// bit, R cleared, no AVPs yet.
    pub fn answer_to(req: &Header) -> Self {
        Message {
            header: Header {
                request: false,
                error: false,
                retransmit: false,
                ..*req
            },
            avps: Vec::new(),
        }
    }
    /// The message with the P bit cleared (base protocol messages CER, DWR, DPR).
    pub fn not_proxiable(mut self) -> Self {
        self.header.proxiable = false;
        self
    }
    /// The message with `avp` appended.
    pub fn with(mut self, avp: Avp) -> Self {
        self.avps.push(avp);
        self
    }

    /// Parses and validates one message at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Message> {
        Ok(Message::from_view(&MessageView::new_checked(buf)?))
    }
    /// The owned form of a validated view.
    pub fn from_view(v: &MessageView<'_>) -> Message {
        Message {
            header: v.header(),
            avps: v.avps().map(|a| a.to_owned()).collect(),
        }
    }
    /// Encodes the message. Fails when the command code does not fit 24 bits or the E bit
    /// is set on a request (neither would parse back), or when it is too long.
    pub fn emit(&self) -> Result<Vec<u8>> {
        let h = &self.header;
        if h.request && h.error {
            return Err(Error::InvalidHdrBits { flags: h.flags() });
        }
        if h.command > MAX_LEN as u32 {
            return Err(Error::CommandTooLarge { command: h.command });
        }
        let mut out =
            Vec::with_capacity(HEADER_LEN + self.avps.iter().map(Avp::wire_len).sum::<usize>());
        out.extend_from_slice(&[1, 0, 0, 0, h.flags()]);
        out.extend_from_slice(&h.command.to_be_bytes()[1..]);
        for v in [h.application, h.hop_by_hop, h.end_to_end] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        for a in &self.avps {
            a.emit(&mut out)?;
        }
        if out.len() > MAX_LEN {
            return Err(Error::MessageTooLong { len: out.len() });
        }
        let len = (out.len() as u32).to_be_bytes();
        out[1..4].copy_from_slice(&len[1..]);
        Ok(out)
    }

    /// The first AVP of vendor 0 with this code.
    pub fn find(&self, code: u32) -> Option<&Avp> {
        self.find_vendor(code, None)
    }
    /// The first AVP with this code and vendor (`None`: no V bit).
    pub fn find_vendor(&self, code: u32, vendor: Option<u32>) -> Option<&Avp> {
        self.avps
            .iter()
            .find(|a| a.code == code && a.vendor == vendor)
    }
    /// Every AVP of vendor 0 with this code, in order.
    pub fn find_all(&self, code: u32) -> impl Iterator<Item = &Avp> + '_ {
        self.avps
            .iter()
            .filter(move |a| a.code == code && a.vendor.is_none())
    }
    /// See [`MessageView::check_mandatory`]; `at` in the error is the AVP's offset in the
    /// emitted message.
    pub fn check_mandatory(&self, known: impl Fn(u32, Option<u32>) -> bool) -> Result<()> {
        let mut at = HEADER_LEN;
        for a in &self.avps {
            if a.mandatory && !known(a.code, a.vendor) {
                return Err(Error::AvpUnsupported {
                    at,
                    code: a.code,
                    vendor: a.vendor.unwrap_or(0),
                });
            }
            at += a.wire_len();
        }
        Ok(())
    }
}
