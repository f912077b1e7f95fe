//! PAP (RFC 1334 §2.2) and CHAP (RFC 1994 §4) packets, and the MS-CHAPv2 Response value
//! (RFC 2759 §4).
//!
//! ```text
//! PAP Authenticate-Request: | 1 | id | len | Peer-ID-Len | Peer-ID | Passwd-Len | Password |
//! PAP Ack/Nak:              | 2/3 | id | len | Msg-Len | Message |
//! CHAP Challenge/Response:  | 1/2 | id | len | Value-Size | Value | Name |
//! CHAP Success/Failure:     | 3/4 | id | len | Message |
//! ```

use super::{begin, finish, Error, Packet, Result};

/// Reads a length-prefixed field at the start of `d`: `(field, rest)`.
fn counted<'a>(what: &'static str, d: &'a [u8]) -> Result<(&'a [u8], &'a [u8])> {
    let (&n, rest) = d.split_first().ok_or(Error::BadLength {
        what,
        len: 0,
        expected: "a length byte",
    })?;
    let n = usize::from(n);
    if n > rest.len() {
        return Err(Error::FieldOverrun {
            what,
            length: n,
            left: rest.len(),
        });
    }
    Ok(rest.split_at(n))
}

fn put_counted(out: &mut Vec<u8>, d: &[u8]) -> Result<()> {
    let n = u8::try_from(d.len()).map_err(|_| Error::TooLong {
        len: d.len(),
        max: 255,
    })?;
    out.push(n);
    out.extend_from_slice(d);
    Ok(())
}

/// A PAP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PapRepr {
    Request {
        id: u8,
        peer_id: Vec<u8>,
        password: Vec<u8>,
    },
    Ack {
        id: u8,
        message: Vec<u8>,
    },
    Nak {
        id: u8,
        message: Vec<u8>,
    },
    Unknown {
        code: u8,
        id: u8,
        data: Vec<u8>,
    },
}

impl PapRepr {
    pub const REQUEST: u8 = 1;
    pub const ACK: u8 = 2;
    pub const NAK: u8 = 3;

    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        let id = p.identifier();
        let d = p.data();
        Ok(match p.code() {
            Self::REQUEST => {
                let (peer_id, rest) = counted("PAP Peer-ID", d)?;
                let (password, _) = counted("PAP Password", rest)?;
                PapRepr::Request {
                    id,
                    peer_id: peer_id.to_vec(),
                    password: password.to_vec(),
                }
            }
            c @ (Self::ACK | Self::NAK) => {
                // Some peers send an empty Ack without the Msg-Length byte; accept that.
                let message = if d.is_empty() {
                    Vec::new()
                } else {
                    counted("PAP Message", d)?.0.to_vec()
                };
                if c == Self::ACK {
                    PapRepr::Ack { id, message }
                } else {
                    PapRepr::Nak { id, message }
                }
            }
            code => PapRepr::Unknown {
                code,
                id,
                data: d.to_vec(),
            },
        })
    }

    pub fn parse_bytes(b: &[u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(b)?)
    }

    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = match self {
            PapRepr::Request {
                id,
                peer_id,
                password,
            } => {
                let at = begin(out, Self::REQUEST, *id);
                put_counted(out, peer_id)?;
                put_counted(out, password)?;
                at
            }
            PapRepr::Ack { id, message } | PapRepr::Nak { id, message } => {
                let code = if matches!(self, PapRepr::Ack { .. }) {
                    Self::ACK
                } else {
                    Self::NAK
                };
                let at = begin(out, code, *id);
                put_counted(out, message)?;
                at
            }
            PapRepr::Unknown { code, id, data } => {
                let at = begin(out, *code, *id);
                out.extend_from_slice(data);
                at
            }
        };
        finish(out, at)
    }
}

/// A CHAP packet (MD5 and MS-CHAPv2 share the format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChapRepr {
    Challenge {
        id: u8,
        value: Vec<u8>,
        name: Vec<u8>,
    },
    Response {
        id: u8,
        value: Vec<u8>,
        name: Vec<u8>,
    },
    Success {
        id: u8,
        message: Vec<u8>,
    },
    Failure {
        id: u8,
        message: Vec<u8>,
    },
    Unknown {
        code: u8,
        id: u8,
        data: Vec<u8>,
    },
}

impl ChapRepr {
    pub const CHALLENGE: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;

    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self> {
        let id = p.identifier();
        let d = p.data();
        Ok(match p.code() {
            c @ (Self::CHALLENGE | Self::RESPONSE) => {
                let (value, name) = counted("CHAP Value", d)?;
                let (value, name) = (value.to_vec(), name.to_vec());
                if c == Self::CHALLENGE {
                    ChapRepr::Challenge { id, value, name }
                } else {
                    ChapRepr::Response { id, value, name }
                }
            }
            Self::SUCCESS => ChapRepr::Success {
                id,
                message: d.to_vec(),
            },
            Self::FAILURE => ChapRepr::Failure {
                id,
                message: d.to_vec(),
            },
            code => ChapRepr::Unknown {
                code,
                id,
                data: d.to_vec(),
            },
        })
    }

    pub fn parse_bytes(b: &[u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(b)?)
    }

    pub fn emit(&self, out: &mut Vec<u8>) -> Result<()> {
        let at = match self {
            ChapRepr::Challenge { id, value, name } | ChapRepr::Response { id, value, name } => {
                let code = if matches!(self, ChapRepr::Challenge { .. }) {
                    Self::CHALLENGE
                } else {
                    Self::RESPONSE
                };
                let at = begin(out, code, *id);
                put_counted(out, value)?;
                out.extend_from_slice(name);
                at
            }
            ChapRepr::Success { id, message } | ChapRepr::Failure { id, message } => {
                let code = if matches!(self, ChapRepr::Success { .. }) {
                    Self::SUCCESS
                } else {
                    Self::FAILURE
                };
                let at = begin(out, code, *id);
                out.extend_from_slice(message);
                at
            }
            ChapRepr::Unknown { code, id, data } => {
                let at = begin(out, *code, *id);
                out.extend_from_slice(data);
                at
            }
        };
        finish(out, at)
    }
}

/// Length of the MS-CHAPv2 Response value (RFC 2759 §4).
pub const MSCHAPV2_RESPONSE_LEN: usize = 49;

/// The value of an MS-CHAPv2 Response: Peer-Challenge (16), Reserved (8, zero),
/// NT-Response (24), Flags (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV2Response {
    pub peer_challenge: [u8; 16],
    pub nt_response: [u8; 24],
    pub flags: u8,
}

impl MsChapV2Response {
    /// Parses a CHAP Response value. The reserved bytes are ignored (RFC 2759 §4: "MUST be
    /// zero", but checking buys nothing).
    pub fn parse(value: &[u8]) -> Result<Self> {
        if value.len() != MSCHAPV2_RESPONSE_LEN {
            return Err(Error::BadLength {
                what: "MS-CHAPv2 Response value",
                len: value.len(),
                expected: "49",
            });
        }
        let mut peer_challenge = [0; 16];
        peer_challenge.copy_from_slice(&value[..16]);
        let mut nt_response = [0; 24];
        nt_response.copy_from_slice(&value[24..48]);
        Ok(MsChapV2Response {
            peer_challenge,
            nt_response,
            flags: value[48],
        })
    }

    pub fn to_value(&self) -> [u8; MSCHAPV2_RESPONSE_LEN] {
        let mut v = [0; MSCHAPV2_RESPONSE_LEN];
        v[..16].copy_from_slice(&self.peer_challenge);
        v[24..48].copy_from_slice(&self.nt_response);
        v[48] = self.flags;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // PAP Authenticate-Request, from scapy:
    // python3 -c 'from scapy.all import *; print(bytes(PPP_PAP_Request(id=1,username="user",password="pass")).hex())'
    const PAP_REQUEST: [u8; 14] = [
        0x01, 0x01, 0x00, 0x0e, 0x04, b'u', b's', b'e', b'r', 0x04, b'p', b'a', b's', b's',
    ];

    #[test]
    fn pap_real_bytes() {
        let r = PapRepr::parse_bytes(&PAP_REQUEST).unwrap();
        assert_eq!(
            r,
            PapRepr::Request {
                id: 1,
                peer_id: b"user".to_vec(),
                password: b"pass".to_vec()
            }
        );
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, PAP_REQUEST);
        // Ack with a message, hand-derived from RFC 1334 §2.2.2.
        let ack = [2u8, 1, 0, 7, 2, b'o', b'k'];
        assert_eq!(
            PapRepr::parse_bytes(&ack).unwrap(),
            PapRepr::Ack {
                id: 1,
                message: b"ok".to_vec()
            }
        );
        // Peer-ID length running past the packet.
        assert!(matches!(
            PapRepr::parse_bytes(&[1, 1, 0, 6, 9, b'u']),
            Err(Error::FieldOverrun { .. })
        ));
        assert!(PapRepr::parse_bytes(&[1, 1, 0, 4]).is_err());
    }

    // CHAP Challenge, from scapy:
    // python3 -c 'from scapy.all import *; print(bytes(PPP_CHAP_ChallengeResponse(code=1,id=9,
    //   value=bytes(range(16)),optional_name="lns")).hex())'
    const CHAP_CHALLENGE: [u8; 24] = [
        0x01, 0x09, 0x00, 0x18, 0x10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, b'l',
        b'n', b's',
    ];

    #[test]
    fn chap_real_bytes() {
        let r = ChapRepr::parse_bytes(&CHAP_CHALLENGE).unwrap();
        assert_eq!(
            r,
            ChapRepr::Challenge {
                id: 9,
                value: (0..16).collect(),
                name: b"lns".to_vec()
            }
        );
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, CHAP_CHALLENGE);
        assert!(matches!(
            ChapRepr::parse_bytes(&[1, 1, 0, 6, 16, 0]),
            Err(Error::FieldOverrun { .. })
        ));
    }

    /// MS-CHAPv2 Response carrying the RFC 2759 §9.2 values for user "User", built with scapy:
    /// python3 -c 'from scapy.all import *; pc=bytes.fromhex("21402324255E262A28295F2B3A337C7E");
    ///   nt=bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
    ///   print(bytes(PPP_CHAP_ChallengeResponse(code=2,id=1,value=pc+bytes(8)+nt+b"\0",optional_name="User")).hex())'
    #[test]
    fn mschapv2_response_real_bytes() {
        let hex = "0201003a3121402324255e262a28295f2b3a337c7e000000000000000082309ecd8d708b5ea08faa3981cd83544233114a3d85d6df0055736572";
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let r = ChapRepr::parse_bytes(&bytes).unwrap();
        let ChapRepr::Response { id, value, name } = &r else {
            panic!("{r:?}")
        };
        assert_eq!((*id, name.as_slice()), (1, &b"User"[..]));
        let v = MsChapV2Response::parse(value).unwrap();
        assert_eq!(v.peer_challenge[0], 0x21);
        assert_eq!(v.nt_response[23], 0xdf);
        assert_eq!(v.flags, 0);
        assert_eq!(&v.to_value()[..], value.as_slice());
        let mut out = Vec::new();
        r.emit(&mut out).unwrap();
        assert_eq!(out, bytes);
        assert!(MsChapV2Response::parse(&value[..48]).is_err());
    }

    fn b(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 0..max)
    }

    proptest! {
        #[test]
        fn pap_round_trip(id: u8, x in b(20), y in b(20), which in 0u8..4, code in 4u8..=255) {
            let r = match which {
                0 => PapRepr::Request { id, peer_id: x, password: y },
                1 => PapRepr::Ack { id, message: x },
                2 => PapRepr::Nak { id, message: x },
                _ => PapRepr::Unknown { code, id, data: x },
            };
            let mut out = Vec::new();
            r.emit(&mut out).unwrap();
            prop_assert_eq!(PapRepr::parse_bytes(&out).unwrap(), r);
        }
        #[test]
        fn chap_round_trip(id: u8, x in b(60), y in b(20), which in 0u8..5, code in 5u8..=255) {
            let r = match which {
                0 => ChapRepr::Challenge { id, value: x, name: y },
                1 => ChapRepr::Response { id, value: x, name: y },
                2 => ChapRepr::Success { id, message: x },
                3 => ChapRepr::Failure { id, message: x },
                _ => ChapRepr::Unknown { code, id, data: x },
            };
            let mut out = Vec::new();
            r.emit(&mut out).unwrap();
            prop_assert_eq!(ChapRepr::parse_bytes(&out).unwrap(), r);
        }
        #[test]
        fn auth_parse_never_panics(x in b(60)) {
            let _ = PapRepr::parse_bytes(&x);
            let _ = ChapRepr::parse_bytes(&x);
            let _ = MsChapV2Response::parse(&x);
        }
    }
}
