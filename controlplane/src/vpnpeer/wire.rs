//! Wire format of the VPN peering channel (docs/protocols/vpn-peering.md §3).
//!
//! The channel is an RFC 2661 control connection. Our messages are control messages of one
//! message type of our own, [`MESSAGE_TYPE`], whose Message Type AVP has the M bit **clear**
//! (§4.4.1: a peer that does not know the type ignores the message instead of clearing the
//! tunnel). Every AVP of ours is a vendor AVP (Vendor ID [`VENDOR_ID`], M and H bits clear):
//!
//! | attr | name          | value                                                        |
//! |------|---------------|--------------------------------------------------------------|
//! | 1    | KIND          | 1 byte: 1 Open, 2 Auth-Response, 3 Auth-Accept, 4 Update      |
//! | 2    | VPN-ID        | 4 bytes, network order                                        |
//! | 3    | ROUTER-ID     | 4 bytes: the sender's router id (the next hop of its routes)  |
//! | 4    | CHALLENGE     | 16..=64 bytes (Open)                                          |
//! | 5    | CHAP-RESPONSE | 17 bytes: CHAP identifier, MD5(id ‖ secret ‖ challenge)        |
//! | 6    | ROUTES-V4     | route entries, IPv4 (see below)                               |
//! | 7    | ROUTES-V6     | route entries, IPv6                                           |
//! | 8    | END-OF-RIB    | empty: the full exchange is complete                          |
//!
//! A route entry is `flags (1) | prefix length (1) | label (3) | prefix (⌈len/8⌉ bytes)`:
//! flags bit 0 = withdraw (others sent 0, ignored); the label in the high 20 bits of the
//! 3 bytes as in RFC 8277 §2.2 (the low 4 bits sent 0 and ignored); the prefix bytes with no
//! bit set beyond the length. A ROUTES AVP holds as many entries as fit its 10-bit length
//! (at most 1,017 value bytes: 113 IPv4 /24 entries), a message as many AVPs as fit
//! [`MAX_MESSAGE_LEN`].
//!
//! Decoding never panics; every length is checked. AVPs of other vendors and unknown
//! attributes of ours are skipped when their M bit is clear and counted by the caller; with
//! the M bit set they are an error.

use std::net::Ipv4Addr;

use vr::{Prefix4, Prefix6};

use crate::l2tp::wire::{Avp, AvpValue, AVP_HEADER_LEN, AVP_MAX_LEN, CONTROL_HEADER_LEN};

/// Vendor ID of our AVPs: 32473, the IANA Private Enterprise Number reserved for
/// documentation (RFC 5612). L2TPv2 Vendor IDs are 16 bits; an operator that registers its
/// own PEN (below 65,536) changes this one constant on every router.
pub const VENDOR_ID: u16 = 32473;
/// Our Message Type value, sent with the M bit clear. Far above the IANA-assigned L2TP
/// message types (0–~60); the same number as the vendor id for recognisability.
pub const MESSAGE_TYPE: u16 = 32473;
/// The largest control message we build (L2TP header + AVPs): below a 1,280-byte IPv6 MTU
/// minus IP/UDP headers, so no datagram is fragmented.
pub const MAX_MESSAGE_LEN: usize = 1200;
/// Challenge lengths accepted.
pub const CHALLENGE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// Attribute numbers of our vendor AVPs.
pub mod attr {
    pub const KIND: u16 = 1;
    pub const VPN_ID: u16 = 2;
    pub const ROUTER_ID: u16 = 3;
    pub const CHALLENGE: u16 = 4;
    pub const CHAP_RESPONSE: u16 = 5;
    pub const ROUTES_V4: u16 = 6;
    pub const ROUTES_V6: u16 = 7;
    pub const END_OF_RIB: u16 = 8;
}

mod kind {
    pub const OPEN: u8 = 1;
    pub const AUTH_RESPONSE: u8 = 2;
    pub const AUTH_ACCEPT: u8 = 3;
    pub const UPDATE: u8 = 4;
}

const ENTRY_HEADER_LEN: usize = 5;
const FLAG_WITHDRAW: u8 = 0x01;
/// Largest MPLS label value; 0..=15 are reserved (RFC 3032) and refused as VPN labels.
pub const MAX_LABEL: u32 = (1 << 20) - 1;
pub const MIN_LABEL: u32 = 16;

/// Errors of decoding (and of encoding a value out of range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message has no KIND AVP (vendor {VENDOR_ID}, attribute 1)")]
    MissingKind,
    #[error("unknown message kind {0}; known: 1 Open, 2 Auth-Response, 3 Auth-Accept, 4 Update")]
    UnknownKind(u8),
    #[error("{kind} message lacks its {avp} AVP")]
    MissingAvp {
        kind: &'static str,
        avp: &'static str,
    },
    #[error("AVP {attr} of vendor {VENDOR_ID} has {got} value bytes; expected {expected}")]
    BadLength {
        attr: u16,
        got: usize,
        expected: &'static str,
    },
    #[error("AVP {attr} of vendor {vendor} is unknown and has the M bit set")]
    UnknownMandatory { vendor: u16, attr: u16 },
    #[error("AVP {attr} of vendor {VENDOR_ID} appears twice")]
    Duplicate { attr: u16 },
    #[error("route entry at byte {at} of a ROUTES AVP is truncated")]
    TruncatedEntry { at: usize },
    #[error("route entry at byte {at}: prefix length /{len} exceeds {max}")]
    PrefixTooLong { at: usize, len: u8, max: u8 },
    #[error("route entry at byte {at}: bits set beyond the prefix length /{len}")]
    HostBitsSet { at: usize, len: u8 },
    #[error("route entry at byte {at}: label {label} is reserved or out of range (16..=1048575)")]
    BadLabel { at: usize, label: u32 },
    #[error("the update needs {messages} messages; use encode_updates")]
    TooLarge { messages: usize },
    #[error("label {0} cannot be sent (16..=1048575)")]
    LabelOutOfRange(u32),
}

/// An IPv4 or IPv6 prefix of a VPN route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpPrefix {
    V4(Prefix4),
    V6(Prefix6),
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpPrefix::V4(p) => p.fmt(f),
            IpPrefix::V6(p) => p.fmt(f),
        }
    }
}

impl IpPrefix {
    fn len(&self) -> u8 {
        match self {
            IpPrefix::V4(p) => p.len(),
            IpPrefix::V6(p) => p.len(),
        }
    }
    fn entry_len(&self) -> usize {
        ENTRY_HEADER_LEN + usize::from(self.len()).div_ceil(8)
    }
}

/// One route of an Update: add (or replace) `prefix` with `label`, or withdraw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteOp {
    pub prefix: IpPrefix,
    /// The VPN label the sender allocated (ignored on a withdraw, sent as given).
    pub label: u32,
    pub withdraw: bool,
}

/// A decoded message of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message of each side once the L2TP connection is up: who we are and the
    /// challenge the peer must answer.
    Open {
        vpn_id: u32,
        router_id: Ipv4Addr,
        challenge: Vec<u8>,
    },
    /// The answer to the peer's challenge.
    AuthResponse {
        vpn_id: u32,
        router_id: Ipv4Addr,
        chap_id: u8,
        response: [u8; 16],
    },
    /// The sender's RADIUS server accepted us: the sender will now send its routes.
    AuthAccept { vpn_id: u32, router_id: Ipv4Addr },
    /// Routes of the sender's VR (next hop: `router_id`).
    Update {
        vpn_id: u32,
        router_id: Ipv4Addr,
        routes: Vec<RouteOp>,
        end_of_rib: bool,
    },
}

/// What [`decode`] skipped (AVPs with the M bit clear it does not know).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    pub foreign_avps: u32,
}

fn vavp(attr: u16, data: Vec<u8>) -> Avp {
    Avp::o(AvpValue::Unknown {
        vendor: VENDOR_ID,
        attr,
        data,
    })
}

fn header_avps(k: u8, vpn_id: u32, router_id: Ipv4Addr) -> Vec<Avp> {
    vec![
        vavp(attr::KIND, vec![k]),
        vavp(attr::VPN_ID, vpn_id.to_be_bytes().to_vec()),
        vavp(attr::ROUTER_ID, router_id.octets().to_vec()),
    ]
}

/// Encodes a message into one control message's AVPs. An Update whose routes need more
/// than one message is refused ([`WireError::TooLarge`]): long updates go through
/// [`encode_updates`].
pub fn encode(m: &Message) -> Result<Vec<Avp>, WireError> {
    Ok(match m {
        Message::Open {
            vpn_id,
            router_id,
            challenge,
        } => {
            let mut v = header_avps(kind::OPEN, *vpn_id, *router_id);
            v.push(vavp(attr::CHALLENGE, challenge.clone()));
            v
        }
        Message::AuthResponse {
            vpn_id,
            router_id,
            chap_id,
            response,
        } => {
            let mut v = header_avps(kind::AUTH_RESPONSE, *vpn_id, *router_id);
            let mut r = Vec::with_capacity(17);
            r.push(*chap_id);
            r.extend_from_slice(response);
            v.push(vavp(attr::CHAP_RESPONSE, r));
            v
        }
        Message::AuthAccept { vpn_id, router_id } => {
            header_avps(kind::AUTH_ACCEPT, *vpn_id, *router_id)
        }
        Message::Update {
            vpn_id,
            router_id,
            routes,
            end_of_rib,
        } => {
            let mut v = encode_updates(*vpn_id, *router_id, routes, *end_of_rib)?;
            match v.len() {
                0 => header_avps(kind::UPDATE, *vpn_id, *router_id),
                1 => v.remove(0),
                n => return Err(WireError::TooLarge { messages: n }),
            }
        }
    })
}

fn push_entry(buf: &mut Vec<u8>, r: &RouteOp) {
    buf.push(if r.withdraw { FLAG_WITHDRAW } else { 0 });
    buf.push(r.prefix.len());
    let l = (r.label & MAX_LABEL) << 4;
    buf.extend_from_slice(&l.to_be_bytes()[1..]);
    let n = usize::from(r.prefix.len()).div_ceil(8);
    match r.prefix {
        IpPrefix::V4(p) => buf.extend_from_slice(&p.addr().to_be_bytes()[..n]),
        IpPrefix::V6(p) => buf.extend_from_slice(&p.addr().to_be_bytes()[..n]),
    }
}

/// Size of the fixed part of an Update message: L2TP header, Message Type AVP, KIND,
/// VPN-ID, ROUTER-ID and room for END-OF-RIB.
const UPDATE_FIXED: usize = CONTROL_HEADER_LEN
    + (AVP_HEADER_LEN + 2)
    + (AVP_HEADER_LEN + 1)
    + 2 * (AVP_HEADER_LEN + 4)
    + AVP_HEADER_LEN;

/// Splits `routes` into Update messages (AVP lists), each within [`MAX_MESSAGE_LEN`];
/// END-OF-RIB goes into the last one (an empty route list with `end_of_rib` gives one
/// message with only the marker). Routes keep their order.
pub fn encode_updates(
    vpn_id: u32,
    router_id: Ipv4Addr,
    routes: &[RouteOp],
    end_of_rib: bool,
) -> Result<Vec<Vec<Avp>>, WireError> {
    let max_value = AVP_MAX_LEN - AVP_HEADER_LEN;
    let mut out = Vec::new();
    let mut avps = header_avps(kind::UPDATE, vpn_id, router_id);
    let mut msg_len = UPDATE_FIXED;
    // (attr, value) of the ROUTES AVP being filled.
    let mut cur: Option<(u16, Vec<u8>)> = None;
    for r in routes {
        if !(MIN_LABEL..=MAX_LABEL).contains(&r.label) && !r.withdraw {
            return Err(WireError::LabelOutOfRange(r.label));
        }
        let a = match r.prefix {
            IpPrefix::V4(_) => attr::ROUTES_V4,
            IpPrefix::V6(_) => attr::ROUTES_V6,
        };
        let e = r.prefix.entry_len();
        let fits_avp = cur
            .as_ref()
            .is_some_and(|(ca, v)| *ca == a && v.len() + e <= max_value);
        if fits_avp && msg_len + e <= MAX_MESSAGE_LEN {
            if let Some((_, v)) = cur.as_mut() {
                push_entry(v, r);
            }
            msg_len += e;
            continue;
        }
        // Close the current AVP; open a new one, in a new message if needed.
        if let Some((ca, v)) = cur.take() {
            avps.push(vavp(ca, v));
        }
        if msg_len + AVP_HEADER_LEN + e > MAX_MESSAGE_LEN {
            out.push(std::mem::replace(
                &mut avps,
                header_avps(kind::UPDATE, vpn_id, router_id),
            ));
            msg_len = UPDATE_FIXED;
        }
        let mut v = Vec::with_capacity(max_value.min(MAX_MESSAGE_LEN));
        push_entry(&mut v, r);
        cur = Some((a, v));
        msg_len += AVP_HEADER_LEN + e;
    }
    if let Some((ca, v)) = cur.take() {
        avps.push(vavp(ca, v));
    }
    if end_of_rib {
        avps.push(vavp(attr::END_OF_RIB, Vec::new()));
    }
    if avps.len() > 3 {
        out.push(avps);
    }
    Ok(out)
}

fn parse_entries(v6: bool, data: &[u8], out: &mut Vec<RouteOp>) -> Result<(), WireError> {
    let max = if v6 { 128u8 } else { 32u8 };
    let mut at = 0;
    while at < data.len() {
        let h = data
            .get(at..at + ENTRY_HEADER_LEN)
            .ok_or(WireError::TruncatedEntry { at })?;
        let (flags, len) = (h[0], h[1]);
        if len > max {
            return Err(WireError::PrefixTooLong { at, len, max });
        }
        let label = u32::from_be_bytes([0, h[2], h[3], h[4]]) >> 4;
        let withdraw = flags & FLAG_WITHDRAW != 0;
        if !withdraw && label < MIN_LABEL {
            return Err(WireError::BadLabel { at, label });
        }
        let n = usize::from(len).div_ceil(8);
        let p = data
            .get(at + ENTRY_HEADER_LEN..at + ENTRY_HEADER_LEN + n)
            .ok_or(WireError::TruncatedEntry { at })?;
        let mut full = [0u8; 16];
        full[..n].copy_from_slice(p);
        let prefix = if v6 {
            let a = u128::from_be_bytes(full);
            IpPrefix::V6(Prefix6::new(a, len).map_err(|_| WireError::HostBitsSet { at, len })?)
        } else {
            let a = u32::from_be_bytes([full[0], full[1], full[2], full[3]]);
            IpPrefix::V4(Prefix4::new(a, len).map_err(|_| WireError::HostBitsSet { at, len })?)
        };
        out.push(RouteOp {
            prefix,
            label,
            withdraw,
        });
        at += ENTRY_HEADER_LEN + n;
    }
    Ok(())
}

fn fixed<const N: usize>(attr: u16, d: &[u8], what: &'static str) -> Result<[u8; N], WireError> {
    d.try_into().map_err(|_| WireError::BadLength {
        attr,
        got: d.len(),
        expected: what,
    })
}

/// Decodes the AVPs (after the Message Type) of a message of type [`MESSAGE_TYPE`].
pub fn decode(avps: &[Avp]) -> Result<(Message, Skipped), WireError> {
    let mut skipped = Skipped::default();
    let mut k = None;
    let mut vpn = None;
    let mut router = None;
    let mut challenge = None;
    let mut chap = None;
    let mut eor = false;
    let mut routes = Vec::new();
    let once = |slot: bool, attr: u16| {
        if slot {
            Err(WireError::Duplicate { attr })
        } else {
            Ok(())
        }
    };
    for a in avps {
        let (vendor, at, d) = match &a.value {
            AvpValue::Unknown { vendor, attr, data } => (*vendor, *attr, data.as_slice()),
            other => {
                if a.mandatory {
                    let (v, at) = other.key();
                    return Err(WireError::UnknownMandatory {
                        vendor: v,
                        attr: at,
                    });
                }
                skipped.foreign_avps += 1;
                continue;
            }
        };
        if vendor != VENDOR_ID {
            if a.mandatory {
                return Err(WireError::UnknownMandatory { vendor, attr: at });
            }
            skipped.foreign_avps += 1;
            continue;
        }
        match at {
            attr::KIND => {
                once(k.is_some(), at)?;
                k = Some(fixed::<1>(at, d, "1")?[0]);
            }
            attr::VPN_ID => {
                once(vpn.is_some(), at)?;
                vpn = Some(u32::from_be_bytes(fixed::<4>(at, d, "4")?));
            }
            attr::ROUTER_ID => {
                once(router.is_some(), at)?;
                router = Some(Ipv4Addr::from(fixed::<4>(at, d, "4")?));
            }
            attr::CHALLENGE => {
                once(challenge.is_some(), at)?;
                if !CHALLENGE_LEN.contains(&d.len()) {
                    return Err(WireError::BadLength {
                        attr: at,
                        got: d.len(),
                        expected: "16..=64",
                    });
                }
                challenge = Some(d.to_vec());
            }
            attr::CHAP_RESPONSE => {
                once(chap.is_some(), at)?;
                let r = fixed::<17>(at, d, "17")?;
                let mut resp = [0u8; 16];
                resp.copy_from_slice(&r[1..]);
                chap = Some((r[0], resp));
            }
            attr::ROUTES_V4 => parse_entries(false, d, &mut routes)?,
            attr::ROUTES_V6 => parse_entries(true, d, &mut routes)?,
            attr::END_OF_RIB => {
                once(eor, at)?;
                if !d.is_empty() {
                    return Err(WireError::BadLength {
                        attr: at,
                        got: d.len(),
                        expected: "0",
                    });
                }
                eor = true;
            }
            _ if a.mandatory => return Err(WireError::UnknownMandatory { vendor, attr: at }),
            _ => skipped.foreign_avps += 1,
        }
    }
    let k = k.ok_or(WireError::MissingKind)?;
    let name = match k {
        kind::OPEN => "Open",
        kind::AUTH_RESPONSE => "Auth-Response",
        kind::AUTH_ACCEPT => "Auth-Accept",
        kind::UPDATE => "Update",
        other => return Err(WireError::UnknownKind(other)),
    };
    let missing = |avp| WireError::MissingAvp { kind: name, avp };
    let vpn_id = vpn.ok_or(missing("VPN-ID"))?;
    let router_id = router.ok_or(missing("ROUTER-ID"))?;
    let m = match k {
        kind::OPEN => Message::Open {
            vpn_id,
            router_id,
            challenge: challenge.ok_or(missing("CHALLENGE"))?,
        },
        kind::AUTH_RESPONSE => {
            let (chap_id, response) = chap.ok_or(missing("CHAP-RESPONSE"))?;
            Message::AuthResponse {
                vpn_id,
                router_id,
                chap_id,
                response,
            }
        }
        kind::AUTH_ACCEPT => Message::AuthAccept { vpn_id, router_id },
        _ => Message::Update {
            vpn_id,
            router_id,
            routes,
            end_of_rib: eor,
        },
    };
    Ok((m, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l2tp::wire::{ControlMessage, L2tpPacket, MessageType};
    use proptest::prelude::*;

    fn v4(a: [u8; 4], len: u8) -> IpPrefix {
        IpPrefix::V4(Prefix4::new(u32::from_be_bytes(a), len).unwrap())
    }

    fn through_l2tp(avps: Vec<Avp>) -> (Vec<u8>, Vec<Avp>) {
        let mut m = ControlMessage::new(7, 0, MessageType::from(MESSAGE_TYPE), avps);
        m.message_type_mandatory = false;
        let bytes = m.to_bytes(None).unwrap();
        let p = L2tpPacket::new_checked(&bytes[..]).unwrap();
        let back = ControlMessage::parse(&p, None).unwrap();
        assert_eq!(back.message_type, Some(MessageType::Unknown(MESSAGE_TYPE)));
        assert!(!back.message_type_mandatory);
        (bytes, back.avps)
    }

    #[test]
    fn update_bytes_are_as_documented() {
        let r = RouteOp {
            prefix: v4([10, 1, 0, 0], 16),
            label: 1000,
            withdraw: false,
        };
        let msgs = encode_updates(65001, Ipv4Addr::new(192, 0, 2, 1), &[r], true).unwrap();
        assert_eq!(msgs.len(), 1);
        let (bytes, avps) = through_l2tp(msgs[0].clone());
        // Message Type AVP: flags/length 0x0008 (M clear), vendor 0, attr 0, value 32473.
        assert_eq!(&bytes[12..20], &[0x00, 0x08, 0, 0, 0, 0, 0x7e, 0xd9]);
        // ROUTES-V4: length 6 + 7, vendor 32473, attr 6; entry flags 0, /16, label 1000<<4, 10.1
        let want = [
            0x00, 0x0d, 0x7e, 0xd9, 0x00, 0x06, 0x00, 16, 0x00, 0x3e, 0x80, 10, 1,
        ];
        assert!(bytes.windows(want.len()).any(|w| w == want));
        let (m, s) = decode(&avps).unwrap();
        assert_eq!(s, Skipped::default());
        assert_eq!(
            m,
            Message::Update {
                vpn_id: 65001,
                router_id: Ipv4Addr::new(192, 0, 2, 1),
                routes: vec![r],
                end_of_rib: true
            }
        );
    }

    #[test]
    fn control_messages_round_trip() {
        let rid = Ipv4Addr::new(10, 255, 0, 2);
        for m in [
            Message::Open {
                vpn_id: 1,
                router_id: rid,
                challenge: vec![7; 16],
            },
            Message::AuthResponse {
                vpn_id: 1,
                router_id: rid,
                chap_id: 9,
                response: [3; 16],
            },
            Message::AuthAccept {
                vpn_id: 1,
                router_id: rid,
            },
        ] {
            let (_, avps) = through_l2tp(encode(&m).unwrap());
            assert_eq!(decode(&avps).unwrap().0, m);
        }
    }

    #[test]
    fn many_routes_split_within_message_size() {
        let routes: Vec<RouteOp> = (0..5000u32)
            .map(|i| RouteOp {
                prefix: IpPrefix::V4(Prefix4::new((10 << 24) | (i << 8), 24).unwrap()),
                label: 100 + (i % 7),
                withdraw: i % 3 == 0,
            })
            .chain((0..300u128).map(|i| RouteOp {
                prefix: IpPrefix::V6(
                    Prefix6::new((0x2001_0db8u128 << 96) | (i << 64), 64).unwrap(),
                ),
                label: 200,
                withdraw: false,
            }))
            .collect();
        let msgs = encode_updates(5, Ipv4Addr::new(1, 1, 1, 1), &routes, true).unwrap();
        let mut got = Vec::new();
        for (i, avps) in msgs.iter().enumerate() {
            let (bytes, back) = through_l2tp(avps.clone());
            assert!(bytes.len() <= MAX_MESSAGE_LEN, "{} bytes", bytes.len());
            let (
                Message::Update {
                    routes, end_of_rib, ..
                },
                _,
            ) = decode(&back).unwrap()
            else {
                panic!("not an update")
            };
            assert_eq!(end_of_rib, i == msgs.len() - 1);
            got.extend(routes);
        }
        assert_eq!(got, routes);
        // Dense: IPv4 /24 entries are 8 bytes; a 1,200-byte message carries > 130 of them.
        assert!(
            msgs.len() < 5000 / 130 + 300 / 50 + 3,
            "{} messages",
            msgs.len()
        );
    }

    #[test]
    fn only_end_of_rib() {
        let msgs = encode_updates(5, Ipv4Addr::new(1, 1, 1, 1), &[], true).unwrap();
        assert_eq!(msgs.len(), 1);
        assert!(encode_updates(5, Ipv4Addr::new(1, 1, 1, 1), &[], false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let hdr = header_avps(kind::UPDATE, 1, Ipv4Addr::new(1, 2, 3, 4));
        let with = |a: Avp| {
            let mut v = hdr.clone();
            v.push(a);
            decode(&v)
        };
        assert!(matches!(
            with(vavp(attr::ROUTES_V4, vec![0, 24, 0, 0x3e])),
            Err(WireError::TruncatedEntry { at: 0 })
        ));
        assert!(matches!(
            with(vavp(
                attr::ROUTES_V4,
                vec![0, 33, 0, 0x3e, 0x80, 1, 2, 3, 4, 5]
            )),
            Err(WireError::PrefixTooLong { len: 33, .. })
        ));
        assert!(matches!(
            with(vavp(attr::ROUTES_V4, vec![0, 8, 0, 0x3e, 0x80, 10, 1])),
            Err(WireError::TruncatedEntry { .. }) | Err(WireError::HostBitsSet { .. })
        ));
        assert!(matches!(
            with(vavp(attr::ROUTES_V4, vec![0, 7, 0, 0x3e, 0x80, 0xff])),
            Err(WireError::HostBitsSet { len: 7, .. })
        ));
        assert!(matches!(
            with(vavp(attr::ROUTES_V4, vec![0, 8, 0, 0x00, 0x30, 10])),
            Err(WireError::BadLabel { label: 3, .. })
        ));
        assert!(matches!(
            with(vavp(attr::VPN_ID, vec![0, 0, 0, 2])),
            Err(WireError::Duplicate { attr: 2 })
        ));
        assert!(matches!(
            with(Avp::m(AvpValue::Unknown {
                vendor: VENDOR_ID,
                attr: 99,
                data: vec![]
            })),
            Err(WireError::UnknownMandatory { attr: 99, .. })
        ));
        // Unknown, optional: skipped and counted.
        let (_, s) = with(vavp(99, vec![1, 2])).unwrap();
        assert_eq!(s.foreign_avps, 1);
        assert!(matches!(decode(&hdr[1..]), Err(WireError::MissingKind)));
        let open = header_avps(kind::OPEN, 1, Ipv4Addr::new(1, 2, 3, 4));
        assert!(matches!(
            decode(&open),
            Err(WireError::MissingAvp {
                avp: "CHALLENGE",
                ..
            })
        ));
        assert!(matches!(
            decode(&[vavp(attr::KIND, vec![9])]),
            Err(WireError::UnknownKind(9))
        ));
        assert!(matches!(
            encode_updates(
                1,
                Ipv4Addr::new(1, 2, 3, 4),
                &[RouteOp {
                    prefix: v4([10, 0, 0, 0], 8),
                    label: 2,
                    withdraw: false
                }],
                false
            ),
            Err(WireError::LabelOutOfRange(2))
        ));
    }

    proptest! {
        #[test]
        fn routes_round_trip(
            v in proptest::collection::vec((any::<u32>(), 0u8..=32, 16u32..=MAX_LABEL, any::<bool>()), 0..400),
            w in proptest::collection::vec((any::<u128>(), 0u8..=128, 16u32..=MAX_LABEL, any::<bool>()), 0..100),
        ) {
            let routes: Vec<RouteOp> = v.into_iter().map(|(a, l, label, withdraw)| RouteOp {
                prefix: IpPrefix::V4(Prefix4::new_truncating(a, l).unwrap()), label, withdraw,
            }).chain(w.into_iter().map(|(a, l, label, withdraw)| RouteOp {
                prefix: IpPrefix::V6(Prefix6::new_truncating(a, l).unwrap()), label, withdraw,
            })).collect();
            let msgs = encode_updates(9, Ipv4Addr::new(9, 9, 9, 9), &routes, true).unwrap();
            let mut got = Vec::new();
            for avps in msgs {
                let (bytes, back) = through_l2tp(avps);
                prop_assert!(bytes.len() <= MAX_MESSAGE_LEN);
                if let (Message::Update { routes, .. }, _) = decode(&back).unwrap() {
                    got.extend(routes);
                }
            }
            prop_assert_eq!(got, routes);
        }

        #[test]
        fn decode_never_panics(d in proptest::collection::vec(any::<u8>(), 0..600), a in 0u16..12) {
            let mut v = header_avps(kind::UPDATE, 1, Ipv4Addr::new(1, 2, 3, 4));
            v.push(vavp(a, d));
            let _ = decode(&v);
        }
    }
}
