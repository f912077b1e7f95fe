//! The RADIUS packet (RFC 2865 §3).
//!
//! ```text
//! |     Code      |  Identifier   |            Length             |
//! |                         Authenticator (16)                    |
//! |  Attributes ...  (Type 1 | Length 1 | Value Length-2)
//! ```

use super::attribute::Attribute;
use super::{Error, Field, Result};

mod field {
    use super::Field;
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const AUTHENTICATOR: Field = 4..20;
}

/// Header length; also the minimum packet length.
pub const HEADER_LEN: usize = field::AUTHENTICATOR.end;
/// Maximum packet length (RFC 2865 §3).
pub const MAX_LEN: usize = 4096;

/// Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5176 §3.5).
pub mod code {
    pub const ACCESS_REQUEST: u8 = 1;
    pub const ACCESS_ACCEPT: u8 = 2;
    pub const ACCESS_REJECT: u8 = 3;
    pub const ACCOUNTING_REQUEST: u8 = 4;
    pub const ACCOUNTING_RESPONSE: u8 = 5;
    pub const ACCESS_CHALLENGE: u8 = 11;
    pub const STATUS_SERVER: u8 = 12;
    pub const DISCONNECT_REQUEST: u8 = 40;
    pub const DISCONNECT_ACK: u8 = 41;
    pub const DISCONNECT_NAK: u8 = 42;
    pub const COA_REQUEST: u8 = 43;
    pub const COA_ACK: u8 = 44;
    pub const COA_NAK: u8 = 45;
}

/// Zero-copy view of a RADIUS packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps and checks the header: at least 20 bytes, Length within 20..=4096 and not past
    /// the datagram. Bytes after Length are padding and ignored (RFC 2865 §3).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        let datagram = p.buffer.as_ref().len();
        if datagram < HEADER_LEN {
            return Err(Error::Truncated { len: datagram });
        }
        let length = p.length();
        if length < HEADER_LEN {
            return Err(Error::LengthTooShort { length });
        }
        if length > MAX_LEN {
            return Err(Error::LengthTooLong { length });
        }
        if length > datagram {
            return Err(Error::LengthOverrun { length, datagram });
        }
        Ok(p)
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }
    /// The Length field.
    pub fn length(&self) -> usize {
        let d = self.buffer.as_ref();
        usize::from(u16::from_be_bytes([
            d[field::LENGTH.start],
            d[field::LENGTH.start + 1],
        ]))
    }
    pub fn authenticator(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::AUTHENTICATOR]);
        a
    }
    /// The packet up to Length (without trailing padding).
    pub fn bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.length()]
    }
    /// The attribute bytes (20..Length).
    pub fn attribute_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.length()]
    }
    /// Walks the attributes without copying.
    pub fn attributes(&self) -> RawAttributes<'_> {
        RawAttributes {
            data: self.attribute_bytes(),
            pos: 0,
            failed: false,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_identifier(&mut self, v: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = v;
    }
    pub fn set_length(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_authenticator(&mut self, v: &[u8; 16]) {
        self.buffer.as_mut()[field::AUTHENTICATOR].copy_from_slice(v);
    }
}

/// One attribute as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    pub kind: u8,
    /// Offset of the attribute's Type byte in the packet.
    pub offset: usize,
    pub value: &'a [u8],
}

/// Iterator over the attributes of a [`Packet`]; yields one error and stops at the first
/// malformed attribute (length 0 or 1, or running past the packet).
#[derive(Debug, Clone)]
pub struct RawAttributes<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = Result<RawAttribute<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let at = HEADER_LEN + self.pos;
        let rest = &self.data[self.pos..];
        let err = if rest.len() < 2 {
            Some(Error::AttrTruncated {
                at,
                left: rest.len(),
            })
        } else {
            let length = usize::from(rest[1]);
            if length < 2 {
                Some(Error::AttrTooShort {
                    at,
                    kind: rest[0],
                    length,
                })
            } else if length > rest.len() {
                Some(Error::AttrOverrun {
                    at,
                    kind: rest[0],
                    length,
                    left: rest.len(),
                })
            } else {
                self.pos += length;
                return Some(Ok(RawAttribute {
                    kind: rest[0],
                    offset: at,
                    value: &rest[2..length],
                }));
            }
        };
        self.failed = true;
        err.map(Err)
    }
}

/// An owned RADIUS packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub code: u8,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attributes: Vec<Attribute>,
}

impl Repr {
    /// Decodes every attribute of `p`.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        let mut attributes = Vec::new();
        for raw in p.attributes() {
            let raw = raw?;
            attributes.push(Attribute::decode(raw.kind, raw.value)?);
        }
        Ok(Repr {
            code: p.code(),
            identifier: p.identifier(),
            authenticator: p.authenticator(),
            attributes,
        })
    }

    /// [`Packet::new_checked`] then [`Repr::parse`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Repr> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    /// Length of the encoded packet.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .attributes
                .iter()
                .map(|a| 2 + a.value_len())
                .sum::<usize>()
    }

    /// Encodes the packet (authenticator and Message-Authenticator as they are in `self`;
    /// [`super::crypto::sign`] fills them in).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.buffer_len());
        out.extend_from_slice(&[self.code, self.identifier, 0, 0]);
        out.extend_from_slice(&self.authenticator);
        let mut value = Vec::with_capacity(253);
        for a in &self.attributes {
            a.check()?;
            value.clear();
            a.encode(&mut value);
            if value.len() > 253 {
                return Err(Error::ValueTooLong {
                    len: value.len(),
                    max: 253,
                });
            }
            out.push(a.kind());
            out.push((value.len() + 2) as u8);
            out.extend_from_slice(&value);
        }
        if out.len() > MAX_LEN {
            return Err(Error::PacketTooLong { len: out.len() });
        }
        let len = out.len() as u16;
        Packet::new_unchecked(&mut out[..]).set_length(len);
        Ok(out)
    }

    /// The first attribute for which `f` returns `Some`.
    pub fn find<'a, U>(&'a self, f: impl FnMut(&'a Attribute) -> Option<U>) -> Option<U> {
        self.attributes.iter().find_map(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(code: u8, len: u16, total: usize) -> Vec<u8> {
        let mut v = vec![0u8; total];
        v[0] = code;
        v[1] = 7;
        v[2..4].copy_from_slice(&len.to_be_bytes());
        v
    }

    #[test]
    fn header_lengths() {
        assert_eq!(
            Packet::new_checked(&[0u8; 19][..]).unwrap_err(),
            Error::Truncated { len: 19 }
        );
        assert_eq!(
            Packet::new_checked(&header(1, 19, 20)[..]).unwrap_err(),
            Error::LengthTooShort { length: 19 }
        );
        assert_eq!(
            Packet::new_checked(&header(1, 4097, 4097)[..]).unwrap_err(),
            Error::LengthTooLong { length: 4097 }
        );
        assert_eq!(
            Packet::new_checked(&header(1, 30, 25)[..]).unwrap_err(),
            Error::LengthOverrun {
                length: 30,
                datagram: 25
            }
        );
        // Trailing bytes beyond Length are ignored (RFC 2865 §3), even if they look like
        // a broken attribute.
        let mut v = header(2, 23, 26);
        v[20..23].copy_from_slice(&[18, 3, b'x']);
        v[23..26].copy_from_slice(&[1, 0, 0]);
        let p = Packet::new_checked(&v[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.attributes, vec![Attribute::ReplyMessage(b"x".to_vec())]);
        assert_eq!(p.bytes().len(), 23);
    }

    #[test]
    fn malformed_attributes() {
        // Length 0: would loop forever in a naive walker.
        let mut v = header(2, 22, 22);
        v[20..22].copy_from_slice(&[1, 0]);
        assert_eq!(
            Repr::from_bytes(&v).unwrap_err(),
            Error::AttrTooShort {
                at: 20,
                kind: 1,
                length: 0
            }
        );
        // Length 1.
        v[21] = 1;
        assert!(matches!(
            Repr::from_bytes(&v),
            Err(Error::AttrTooShort { length: 1, .. })
        ));
        // Length runs past the packet.
        let mut v = header(2, 24, 24);
        v[20..24].copy_from_slice(&[18, 10, b'a', b'b']);
        assert_eq!(
            Repr::from_bytes(&v).unwrap_err(),
            Error::AttrOverrun {
                at: 20,
                kind: 18,
                length: 10,
                left: 4
            }
        );
        // A lone type byte at the end.
        let mut v = header(2, 21, 21);
        v[20] = 18;
        assert_eq!(
            Repr::from_bytes(&v).unwrap_err(),
            Error::AttrTruncated { at: 20, left: 1 }
        );
        // The iterator stops after the error.
        let p = Packet::new_checked(&v[..]).unwrap();
        let mut it = p.attributes();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    proptest::proptest! {
        #[test]
        fn repr_round_trip(code in proptest::prelude::any::<u8>(), identifier in proptest::prelude::any::<u8>(),
                           authenticator in proptest::prelude::any::<[u8; 16]>(),
                           attributes in proptest::collection::vec(crate::radius::wire::attribute::tests::any_attribute(), 0..12)) {
            let r = Repr { code, identifier, authenticator, attributes };
            let b = r.to_bytes().unwrap();
            proptest::prop_assert_eq!(Repr::from_bytes(&b).unwrap(), r);
        }

        #[test]
        fn parse_never_panics(d in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            if let Ok(r) = Repr::from_bytes(&d) {
                // Whatever parses re-encodes and re-parses to the same value (bytes may
                // differ: IPv6 prefixes are normalised).
                proptest::prop_assert_eq!(Repr::from_bytes(&r.to_bytes().unwrap()).unwrap(), r);
            }
        }
    }

    #[test]
    fn encode_limits() {
        let r = Repr {
            code: 2,
            identifier: 1,
            authenticator: [0; 16],
            attributes: vec![Attribute::ReplyMessage(vec![b'a'; 254])],
        };
        assert!(matches!(r.to_bytes(), Err(Error::ValueTooLong { .. })));
        let r = Repr {
            attributes: vec![Attribute::ReplyMessage(vec![b'a'; 253]); 17],
            ..r
        };
        assert!(matches!(r.to_bytes(), Err(Error::PacketTooLong { .. })));
    }
}
