//! Control messages (RFC 2661 §3.2, §6): a header with Ns/Nr, then AVPs, the first of which is
//! the Message Type. A control message without AVPs is a ZLB acknowledgement (§5.8).

use super::avp::{attr, Avp, AvpPacket, AvpValue};
use super::hidden;
use super::{Error, Result};
use ::wire::l2tp::{L2tpPacket, L2tpRepr, MessageKind, CONTROL_HEADER_LEN};

/// Control message types (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Sccrq,
    Sccrp,
    Scccn,
    StopCcn,
    Hello,
    Ocrq,
    Ocrp,
    Occn,
    Icrq,
    Icrp,
    Iccn,
    Cdn,
    Wen,
    Sli,
    Unknown(u16),
}

impl From<u16> for MessageType {
    fn from(v: u16) -> Self {
        use MessageType::*;
        match v {
            1 => Sccrq,
            2 => Sccrp,
            3 => Scccn,
            4 => StopCcn,
            6 => Hello,
            7 => Ocrq,
            8 => Ocrp,
            9 => Occn,
            10 => Icrq,
            11 => Icrp,
            12 => Iccn,
            14 => Cdn,
            15 => Wen,
            16 => Sli,
            o => Unknown(o),
        }
    }
}

impl From<MessageType> for u16 {
    fn from(v: MessageType) -> u16 {
        use MessageType::*;
        match v {
            Sccrq => 1,
            Sccrp => 2,
            Scccn => 3,
            StopCcn => 4,
            Hello => 6,
            Ocrq => 7,
            Ocrp => 8,
            Occn => 9,
            Icrq => 10,
            Icrp => 11,
            Iccn => 12,
            Cdn => 14,
            Wen => 15,
            Sli => 16,
            Unknown(o) => o,
        }
    }
}

impl MessageType {
    /// Whether the message belongs to a session (§4.1: an unknown M-bit AVP tears the session
    /// down, not the whole tunnel).
    pub fn is_session_message(self) -> bool {
        use MessageType::*;
        matches!(
            self,
            Ocrq | Ocrp | Occn | Icrq | Icrp | Iccn | Cdn | Wen | Sli
        )
    }
}

/// An owned control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMessage {
    pub tunnel_id: u16,
    pub session_id: u16,
    pub ns: u16,
    pub nr: u16,
    /// `None` for a ZLB acknowledgement.
    pub message_type: Option<MessageType>,
    /// M bit of the Message Type AVP (an unknown type without it is ignored, §4.1).
    pub message_type_mandatory: bool,
    /// The AVPs after the Message Type, hidden ones decrypted.
    pub avps: Vec<Avp>,
}

impl ControlMessage {
    /// A message of `message_type` with `avps`; Ns/Nr are filled in by the engine.
    pub fn new(tunnel_id: u16, session_id: u16, message_type: MessageType, avps: Vec<Avp>) -> Self {
        ControlMessage {
            tunnel_id,
            session_id,
            ns: 0,
            nr: 0,
            message_type: Some(message_type),
            message_type_mandatory: true,
            avps,
        }
    }

    /// A ZLB acknowledgement.
    pub fn zlb(tunnel_id: u16, ns: u16, nr: u16) -> Self {
        ControlMessage {
            tunnel_id,
            session_id: 0,
            ns,
            nr,
            message_type: None,
            message_type_mandatory: true,
            avps: Vec::new(),
        }
    }

    /// Decodes a control message. Hidden AVPs are decrypted with `secret` and the most recent
    /// Random Vector AVP; without a secret a hidden AVP is an error.
    pub fn parse<T: AsRef<[u8]>>(
        p: &L2tpPacket<T>,
        secret: Option<&[u8]>,
    ) -> Result<ControlMessage> {
        let h = L2tpRepr::parse(p)?;
        if h.kind != MessageKind::Control {
            return Err(Error::NotControl { flags: p.flags() });
        }
        let (ns, nr) = h.sequence.unwrap_or((0, 0));
        let payload = p.payload();
        let base = p.header_len();
        let mut at = 0;
        let mut rv: Option<Vec<u8>> = None;
        let mut message_type = None;
        let mut message_type_mandatory = true;
        let mut avps = Vec::new();
        while at < payload.len() {
            let ap = AvpPacket::new_checked_at(&payload[at..], base + at)?;
            let (vendor, a) = (ap.vendor(), ap.attr());
            let value = if ap.hidden() {
                if vendor == 0 && (a == attr::MESSAGE_TYPE || a == attr::RANDOM_VECTOR) {
                    return Err(Error::MustNotBeHidden { attr: a });
                }
                let rv = rv
                    .as_deref()
                    .ok_or(Error::HiddenWithoutRandomVector { attr: a })?;
                let secret = secret.ok_or(Error::HiddenWithoutSecret { attr: a })?;
                AvpValue::decode(vendor, a, &hidden::unhide(a, secret, rv, ap.value())?)?
            } else {
                AvpValue::decode(vendor, a, ap.value())?
            };
            if let AvpValue::RandomVector(v) = &value {
                rv = Some(v.clone());
            }
            if at == 0 {
                match value {
                    AvpValue::MessageType(t) => {
                        message_type = Some(MessageType::from(t));
                        message_type_mandatory = ap.mandatory();
                    }
                    _ => return Err(Error::MissingMessageType),
                }
            } else if matches!(value, AvpValue::MessageType(_)) {
                return Err(Error::MisplacedMessageType);
            } else {
                avps.push(Avp {
                    mandatory: ap.mandatory(),
                    hidden: ap.hidden(),
                    value,
                });
            }
            at += ap.length();
        }
        Ok(ControlMessage {
            tunnel_id: h.tunnel_id,
            session_id: h.session_id,
            ns,
            nr,
            message_type,
            message_type_mandatory,
            avps,
        })
    }

    /// Encodes into a new buffer. Hidden AVPs are encrypted with `secret` and the most recent
    /// Random Vector AVP before them, padded to whole 16-byte chunks.
    pub fn to_bytes(&self, secret: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut out = vec![0u8; CONTROL_HEADER_LEN];
        let mut rv: Option<&[u8]> = None;
        if let Some(t) = self.message_type {
            let mt = Avp {
                mandatory: self.message_type_mandatory,
                hidden: false,
                value: AvpValue::MessageType(t.into()),
            };
            let mut v = Vec::with_capacity(2);
            mt.value.encode(&mut v);
            mt.emit_raw(&v, &mut out)?;
        }
        let mut clear = Vec::new();
        for avp in &self.avps {
            if matches!(avp.value, AvpValue::MessageType(_)) {
                return Err(Error::MisplacedMessageType);
            }
            clear.clear();
            avp.value.encode(&mut clear);
            let (_, a) = avp.value.key();
            if avp.hidden {
                if matches!(avp.value, AvpValue::RandomVector(_)) {
                    return Err(Error::MustNotBeHidden { attr: a });
                }
                let rv = rv.ok_or(Error::HiddenWithoutRandomVector { attr: a })?;
                let secret = secret.ok_or(Error::HiddenWithoutSecret { attr: a })?;
                let pad = [0u8; 16];
                let enc = hidden::hide(
                    a,
                    secret,
                    rv,
                    &clear,
                    &pad[..hidden::padding_for(clear.len())],
                )?;
                avp.emit_raw(&enc, &mut out)?;
            } else {
                avp.emit_raw(&clear, &mut out)?;
            }
            if let AvpValue::RandomVector(v) = &avp.value {
                rv = Some(v);
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(Error::MessageTooLong { len: out.len() });
        }
        let avps_len = out.len() - CONTROL_HEADER_LEN;
        L2tpRepr::control(self.tunnel_id, self.session_id, self.ns, self.nr)
            .emit(&mut L2tpPacket::new_unchecked(&mut out[..]), avps_len);
        Ok(out)
    }

    /// Encodes into `buf` and returns the length written.
    pub fn emit(&self, buf: &mut [u8], secret: Option<&[u8]>) -> Result<usize> {
        let bytes = self.to_bytes(secret)?;
        let have = buf.len();
        let dst = buf.get_mut(..bytes.len()).ok_or(Error::BufferTooSmall {
            have,
            need: bytes.len(),
        })?;
        dst.copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// The first AVP whose value matches `f`.
    pub fn find<'a, R>(&'a self, f: impl Fn(&'a AvpValue) -> Option<R>) -> Option<R> {
        self.avps.iter().find_map(|a| f(&a.value))
    }

    /// The first unknown AVP with the M bit set, as (vendor, attribute type).
    pub fn unknown_mandatory(&self) -> Option<(u16, u16)> {
        self.avps.iter().find_map(|a| match a.value {
            AvpValue::Unknown { vendor, attr, .. } if a.mandatory => Some((vendor, attr)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::avp::tests::any_value;
    use super::*;
    use proptest::prelude::*;

    fn parse(b: &[u8], secret: Option<&[u8]>) -> Result<ControlMessage> {
        ControlMessage::parse(&L2tpPacket::new_checked(b)?, secret)
    }

    /// SCCRQ built by scapy 2.5 (`L2TP(hdr="control+length+sequence")/Raw(avps)` with hand-built
    /// AVPs: Message Type 1, Protocol Version 1.0, Host Name "lac", Framing Capabilities 3,
    /// Assigned Tunnel ID 0x1234).
    const SCCRQ: &[u8] = &[
        0xc8, 0x02, 0x00, 0x37, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // header, len 55
        0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // Message Type SCCRQ
        0x80, 0x08, 0x00, 0x00, 0x00, 0x02, 0x01, 0x00, // Protocol Version 1.0
        0x80, 0x09, 0x00, 0x00, 0x00, 0x07, b'l', b'a', b'c', // Host Name
        0x80, 0x0a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03, // Framing Caps
        0x80, 0x08, 0x00, 0x00, 0x00, 0x09, 0x12, 0x34, // Assigned Tunnel ID
    ];

    #[test]
    fn parse_sccrq() {
        let m = parse(SCCRQ, None).unwrap();
        assert_eq!(m.message_type, Some(MessageType::Sccrq));
        assert_eq!(m.avps.len(), 4);
        assert_eq!(
            m.find(|v| match v {
                AvpValue::AssignedTunnelId(t) => Some(*t),
                _ => None,
            }),
            Some(0x1234)
        );
        assert_eq!(m.to_bytes(None).unwrap(), SCCRQ);
    }

    #[test]
    fn malformed_messages() {
        // AVP length 5 (< 6) in the middle.
        let mut b = SCCRQ.to_vec();
        b[21] = 0x05;
        assert_eq!(
            parse(&b, None).unwrap_err(),
            Error::AvpTooShort { at: 20, length: 5 }
        );
        // Last AVP's length runs past the message.
        let mut b = SCCRQ.to_vec();
        b[48] = 0x0a;
        assert_eq!(
            parse(&b, None).unwrap_err(),
            Error::AvpOverrun {
                at: 47,
                length: 10,
                left: 8
            }
        );
        // Length field bigger than the datagram.
        let mut b = SCCRQ.to_vec();
        b[3] = 0x40;
        assert_eq!(
            parse(&b, None).unwrap_err(),
            Error::Header(::wire::Error::Truncated {
                proto: ::wire::Proto::L2tp,
                needed: 0x40,
                got: 55
            })
        );
        // Zero tunnel id in the Assigned Tunnel ID AVP.
        let mut b = SCCRQ.to_vec();
        b[53] = 0;
        b[54] = 0;
        assert_eq!(parse(&b, None).unwrap_err(), Error::ZeroTunnelId);
        // Hidden AVP (Host Name with H bit) and no Random Vector before it.
        let mut b = SCCRQ.to_vec();
        b[28] |= 0x40;
        assert_eq!(
            parse(&b, Some(b"x")).unwrap_err(),
            Error::HiddenWithoutRandomVector { attr: 7 }
        );
        // First AVP is not the Message Type.
        let mut b = SCCRQ.to_vec();
        b[17] = 0x02;
        assert!(matches!(
            parse(&b, None),
            Err(Error::AvpBadLength { .. }) | Err(Error::MissingMessageType)
        ));
        let mut b = SCCRQ.to_vec();
        b.drain(12..20);
        b[3] = 47;
        assert_eq!(parse(&b, None).unwrap_err(), Error::MissingMessageType);
    }

    #[test]
    fn hidden_needs_secret_and_rv_on_emit() {
        let m = ControlMessage::new(
            1,
            0,
            MessageType::Hello,
            vec![Avp::m(AvpValue::HostName(b"a".to_vec())).hide()],
        );
        assert!(matches!(
            m.to_bytes(Some(b"s")),
            Err(Error::HiddenWithoutRandomVector { attr: 7 })
        ));
        let m = ControlMessage::new(
            1,
            0,
            MessageType::Hello,
            vec![
                Avp::m(AvpValue::RandomVector(vec![1, 2, 3])),
                Avp::m(AvpValue::HostName(b"a".to_vec())).hide(),
            ],
        );
        assert!(matches!(
            m.to_bytes(None),
            Err(Error::HiddenWithoutSecret { attr: 7 })
        ));
        let b = m.to_bytes(Some(b"s")).unwrap();
        assert!(matches!(
            parse(&b, None),
            Err(Error::HiddenWithoutSecret { attr: 7 })
        ));
        assert_eq!(parse(&b, Some(b"s")).unwrap(), m);
    }

    fn any_avp() -> impl Strategy<Value = Avp> {
        (any::<bool>(), any::<bool>(), any_value()).prop_map(|(mandatory, hidden, value)| {
            let hidden = hidden && !matches!(value, AvpValue::RandomVector(_));
            Avp {
                mandatory,
                hidden,
                value,
            }
        })
    }

    proptest! {
        #[test]
        fn message_round_trip(tid in any::<u16>(), sid in any::<u16>(), ns in any::<u16>(), nr in any::<u16>(),
                              mt in any::<u16>(), mtm in any::<bool>(),
                              rv in proptest::collection::vec(any::<u8>(), 1..20),
                              avps in proptest::collection::vec(any_avp(), 0..12)) {
            let mut all = vec![Avp::m(AvpValue::RandomVector(rv))];
            all.extend(avps.into_iter().filter(|a| !matches!(a.value, AvpValue::MessageType(_))));
            let m = ControlMessage { tunnel_id: tid, session_id: sid, ns, nr,
                                     message_type: Some(MessageType::from(mt)),
                                     message_type_mandatory: mtm, avps: all };
            let b = m.to_bytes(Some(b"shared")).unwrap();
            prop_assert_eq!(parse(&b, Some(b"shared")).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut d = data;
            if d.len() >= 4 { d[0] = 0xc8; d[1] = 0x02; let l = d.len() as u16; d[2..4].copy_from_slice(&l.to_be_bytes()); }
            if let Ok(p) = L2tpPacket::new_checked(&d[..]) {
                let _ = ControlMessage::parse(&p, Some(b"k"));
            }
        }
    }
}
