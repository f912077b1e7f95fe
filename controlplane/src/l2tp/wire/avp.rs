//! Attribute-Value Pairs (RFC 2661 §4.1, §4.4).
//!
//! ```text
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! |         Attribute Type        |        Attribute Value...
//! ```
//!
//! Every IETF AVP of RFC 2661 (vendor 0, types 0–39) is decoded into a typed [`AvpValue`];
//! anything else, including vendor-specific AVPs, is kept as [`AvpValue::Unknown`] with its
//! vendor, type and raw value. Whether an unknown mandatory AVP is fatal is the engine's call
//! (§4.1: it tears down the tunnel or session).

use super::{Error, Field, Result};

mod field {
    use super::Field;
    pub const FLAGS_LEN: Field = 0..2;
    pub const VENDOR: Field = 2..4;
    pub const ATTR: Field = 4..6;
    pub const FLAG_M: u16 = 0x8000;
    pub const FLAG_H: u16 = 0x4000;
    pub const LEN_MASK: u16 = 0x03ff;
}

/// AVP header length (flags/length, vendor, attribute type).
pub const AVP_HEADER_LEN: usize = field::ATTR.end;
/// Largest AVP (10-bit length field).
pub const AVP_MAX_LEN: usize = field::LEN_MASK as usize;
/// Vendor ID of the IETF AVPs.
pub const VENDOR_IETF: u16 = 0;

/// IETF attribute types (RFC 2661 §4.4).
pub mod attr {
    pub const MESSAGE_TYPE: u16 = 0;
    pub const RESULT_CODE: u16 = 1;
    pub const PROTOCOL_VERSION: u16 = 2;
    pub const FRAMING_CAPABILITIES: u16 = 3;
    pub const BEARER_CAPABILITIES: u16 = 4;
    pub const TIE_BREAKER: u16 = 5;
    pub const FIRMWARE_REVISION: u16 = 6;
    pub const HOST_NAME: u16 = 7;
    pub const VENDOR_NAME: u16 = 8;
    pub const ASSIGNED_TUNNEL_ID: u16 = 9;
    pub const RECEIVE_WINDOW_SIZE: u16 = 10;
    pub const CHALLENGE: u16 = 11;
    pub const Q931_CAUSE_CODE: u16 = 12;
    pub const CHALLENGE_RESPONSE: u16 = 13;
    pub const ASSIGNED_SESSION_ID: u16 = 14;
    pub const CALL_SERIAL_NUMBER: u16 = 15;
    pub const MINIMUM_BPS: u16 = 16;
    pub const MAXIMUM_BPS: u16 = 17;
    pub const BEARER_TYPE: u16 = 18;
    pub const FRAMING_TYPE: u16 = 19;
    pub const CALLED_NUMBER: u16 = 21;
    pub const CALLING_NUMBER: u16 = 22;
    pub const SUB_ADDRESS: u16 = 23;
    pub const TX_CONNECT_SPEED: u16 = 24;
    pub const PHYSICAL_CHANNEL_ID: u16 = 25;
    pub const INITIAL_RECEIVED_LCP_CONFREQ: u16 = 26;
    pub const LAST_SENT_LCP_CONFREQ: u16 = 27;
    pub const LAST_RECEIVED_LCP_CONFREQ: u16 = 28;
    pub const PROXY_AUTHEN_TYPE: u16 = 29;
    pub const PROXY_AUTHEN_NAME: u16 = 30;
    pub const PROXY_AUTHEN_CHALLENGE: u16 = 31;
    pub const PROXY_AUTHEN_ID: u16 = 32;
    pub const PROXY_AUTHEN_RESPONSE: u16 = 33;
    pub const CALL_ERRORS: u16 = 34;
    pub const ACCM: u16 = 35;
    pub const RANDOM_VECTOR: u16 = 36;
    pub const PRIVATE_GROUP_ID: u16 = 37;
    pub const RX_CONNECT_SPEED: u16 = 38;
    pub const SEQUENCING_REQUIRED: u16 = 39;
}

/// Zero-copy view of one AVP.
#[derive(Debug, Clone)]
pub struct AvpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AvpPacket<T> {
    /// Wraps without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        AvpPacket { buffer }
    }
    /// Wraps and checks that the header fits and the length field is within 6..=buffer length.
    /// `at` is only used in error messages (offset of this AVP in the message).
    pub fn new_checked_at(buffer: T, at: usize) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        let left = p.buffer.as_ref().len();
        if left < AVP_HEADER_LEN {
            return Err(Error::AvpTruncated { at, len: left });
        }
        let length = p.length();
        if length < AVP_HEADER_LEN {
            return Err(Error::AvpTooShort { at, length });
        }
        if length > left {
            return Err(Error::AvpOverrun { at, length, left });
        }
        Ok(p)
    }
    /// [`AvpPacket::new_checked_at`] at offset 0.
    pub fn new_checked(buffer: T) -> Result<Self> {
        Self::new_checked_at(buffer, 0)
    }
    fn flags_len(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::FLAGS_LEN.start], d[field::FLAGS_LEN.start + 1]])
    }
    /// M bit.
    pub fn mandatory(&self) -> bool {
        self.flags_len() & field::FLAG_M != 0
    }
    /// H bit.
    pub fn hidden(&self) -> bool {
        self.flags_len() & field::FLAG_H != 0
    }
    /// Total AVP length (header + value).
    pub fn length(&self) -> usize {
        usize::from(self.flags_len() & field::LEN_MASK)
    }
    /// Vendor ID.
    pub fn vendor(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::VENDOR.start], d[field::VENDOR.start + 1]])
    }
    /// Attribute type.
    pub fn attr(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::ATTR.start], d[field::ATTR.start + 1]])
    }
    /// The (possibly hidden) value.
    pub fn value(&self) -> &[u8] {
        &self.buffer.as_ref()[AVP_HEADER_LEN..self.length()]
    }
}

/// Call Errors AVP value (§4.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallErrors {
    pub crc_errors: u32,
    pub framing_errors: u32,
    pub hardware_overruns: u32,
    pub buffer_overruns: u32,
    pub timeout_errors: u32,
    pub alignment_errors: u32,
}

/// A decoded AVP value. Strings are kept as bytes: RFC 2661 does not require any encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AvpValue {
    MessageType(u16),
    ResultCode {
        result: u16,
        error: Option<u16>,
        message: Vec<u8>,
    },
    ProtocolVersion {
        version: u8,
        revision: u8,
    },
    FramingCapabilities(u32),
    BearerCapabilities(u32),
    TieBreaker(u64),
    FirmwareRevision(u16),
    HostName(Vec<u8>),
    VendorName(Vec<u8>),
    AssignedTunnelId(u16),
    ReceiveWindowSize(u16),
    Challenge(Vec<u8>),
    Q931Cause {
        cause: u16,
        message: u8,
        advisory: Vec<u8>,
    },
    ChallengeResponse([u8; 16]),
    AssignedSessionId(u16),
    CallSerialNumber(u32),
    MinimumBps(u32),
    MaximumBps(u32),
    BearerType(u32),
    FramingType(u32),
    CalledNumber(Vec<u8>),
    CallingNumber(Vec<u8>),
    SubAddress(Vec<u8>),
    TxConnectSpeed(u32),
    PhysicalChannelId(u32),
    InitialReceivedLcpConfreq(Vec<u8>),
    LastSentLcpConfreq(Vec<u8>),
    LastReceivedLcpConfreq(Vec<u8>),
    ProxyAuthenType(u16),
    ProxyAuthenName(Vec<u8>),
    ProxyAuthenChallenge(Vec<u8>),
    ProxyAuthenId(u8),
    ProxyAuthenResponse(Vec<u8>),
    CallErrors(CallErrors),
    Accm {
        send: u32,
        receive: u32,
    },
    RandomVector(Vec<u8>),
    PrivateGroupId(Vec<u8>),
    RxConnectSpeed(u32),
    SequencingRequired,
    /// Any AVP this implementation does not know (other vendors, unassigned IETF types).
    Unknown {
        vendor: u16,
        attr: u16,
        data: Vec<u8>,
    },
}

/// Human name of an IETF attribute type (for error messages and logs).
pub fn attr_name(a: u16) -> &'static str {
    match a {
        attr::MESSAGE_TYPE => "Message Type",
        attr::RESULT_CODE => "Result Code",
        attr::PROTOCOL_VERSION => "Protocol Version",
        attr::FRAMING_CAPABILITIES => "Framing Capabilities",
        attr::BEARER_CAPABILITIES => "Bearer Capabilities",
        attr::TIE_BREAKER => "Tie Breaker",
        attr::FIRMWARE_REVISION => "Firmware Revision",
        attr::HOST_NAME => "Host Name",
        attr::VENDOR_NAME => "Vendor Name",
        attr::ASSIGNED_TUNNEL_ID => "Assigned Tunnel ID",
        attr::RECEIVE_WINDOW_SIZE => "Receive Window Size",
        attr::CHALLENGE => "Challenge",
        attr::Q931_CAUSE_CODE => "Q.931 Cause Code",
        attr::CHALLENGE_RESPONSE => "Challenge Response",
        attr::ASSIGNED_SESSION_ID => "Assigned Session ID",
        attr::CALL_SERIAL_NUMBER => "Call Serial Number",
        attr::MINIMUM_BPS => "Minimum BPS",
        attr::MAXIMUM_BPS => "Maximum BPS",
        attr::BEARER_TYPE => "Bearer Type",
        attr::FRAMING_TYPE => "Framing Type",
        attr::CALLED_NUMBER => "Called Number",
        attr::CALLING_NUMBER => "Calling Number",
        attr::SUB_ADDRESS => "Sub-Address",
        attr::TX_CONNECT_SPEED => "Tx Connect Speed",
        attr::PHYSICAL_CHANNEL_ID => "Physical Channel ID",
        attr::INITIAL_RECEIVED_LCP_CONFREQ => "Initial Received LCP CONFREQ",
        attr::LAST_SENT_LCP_CONFREQ => "Last Sent LCP CONFREQ",
        attr::LAST_RECEIVED_LCP_CONFREQ => "Last Received LCP CONFREQ",
        attr::PROXY_AUTHEN_TYPE => "Proxy Authen Type",
        attr::PROXY_AUTHEN_NAME => "Proxy Authen Name",
        attr::PROXY_AUTHEN_CHALLENGE => "Proxy Authen Challenge",
        attr::PROXY_AUTHEN_ID => "Proxy Authen ID",
        attr::PROXY_AUTHEN_RESPONSE => "Proxy Authen Response",
        attr::CALL_ERRORS => "Call Errors",
        attr::ACCM => "ACCM",
        attr::RANDOM_VECTOR => "Random Vector",
        attr::PRIVATE_GROUP_ID => "Private Group ID",
        attr::RX_CONNECT_SPEED => "Rx Connect Speed",
        attr::SEQUENCING_REQUIRED => "Sequencing Required",
        _ => "unknown",
    }
}

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

fn exact(a: u16, d: &[u8], n: usize, expected: &'static str) -> Result<()> {
    if d.len() == n {
        Ok(())
    } else {
        Err(Error::AvpBadLength {
            attr: a,
            name: attr_name(a),
            len: d.len(),
            expected,
        })
    }
}
fn at_least(a: u16, d: &[u8], n: usize, expected: &'static str) -> Result<()> {
    if d.len() >= n {
        Ok(())
    } else {
        Err(Error::AvpBadLength {
            attr: a,
            name: attr_name(a),
            len: d.len(),
            expected,
        })
    }
}
fn u16v(a: u16, d: &[u8]) -> Result<u16> {
    exact(a, d, 2, "2")?;
    Ok(be16(d, 0))
}
fn u32v(a: u16, d: &[u8]) -> Result<u32> {
    exact(a, d, 4, "4")?;
    Ok(be32(d, 0))
}
fn nonempty(a: u16, d: &[u8]) -> Result<Vec<u8>> {
    at_least(a, d, 1, "at least 1")?;
    Ok(d.to_vec())
}

impl AvpValue {
    /// Decodes a (decrypted) value of AVP (`vendor`, `attr`).
    pub fn decode(vendor: u16, a: u16, d: &[u8]) -> Result<AvpValue> {
        use AvpValue as V;
        if vendor != VENDOR_IETF {
            return Ok(V::Unknown {
                vendor,
                attr: a,
                data: d.to_vec(),
            });
        }
        Ok(match a {
            attr::MESSAGE_TYPE => V::MessageType(u16v(a, d)?),
            attr::RESULT_CODE => {
                at_least(a, d, 2, "2, 4 or more")?;
                if d.len() == 3 {
                    return Err(Error::AvpBadLength {
                        attr: a,
                        name: attr_name(a),
                        len: 3,
                        expected: "2, 4 or more",
                    });
                }
                V::ResultCode {
                    result: be16(d, 0),
                    error: (d.len() >= 4).then(|| be16(d, 2)),
                    message: d.get(4..).unwrap_or(&[]).to_vec(),
                }
            }
            attr::PROTOCOL_VERSION => {
                exact(a, d, 2, "2")?;
                V::ProtocolVersion {
                    version: d[0],
                    revision: d[1],
                }
            }
            attr::FRAMING_CAPABILITIES => V::FramingCapabilities(u32v(a, d)?),
            attr::BEARER_CAPABILITIES => V::BearerCapabilities(u32v(a, d)?),
            attr::TIE_BREAKER => {
                exact(a, d, 8, "8")?;
                let mut b = [0u8; 8];
                b.copy_from_slice(d);
                V::TieBreaker(u64::from_be_bytes(b))
            }
            attr::FIRMWARE_REVISION => V::FirmwareRevision(u16v(a, d)?),
            attr::HOST_NAME => V::HostName(nonempty(a, d)?),
            attr::VENDOR_NAME => V::VendorName(d.to_vec()),
            attr::ASSIGNED_TUNNEL_ID => match u16v(a, d)? {
                0 => return Err(Error::ZeroTunnelId),
                t => V::AssignedTunnelId(t),
            },
            attr::RECEIVE_WINDOW_SIZE => match u16v(a, d)? {
                0 => {
                    return Err(Error::AvpBadValue {
                        attr: a,
                        name: attr_name(a),
                        value: 0,
                        why: "window must be at least 1",
                    })
                }
                w => V::ReceiveWindowSize(w),
            },
            attr::CHALLENGE => V::Challenge(nonempty(a, d)?),
            attr::Q931_CAUSE_CODE => {
                at_least(a, d, 3, "at least 3")?;
                V::Q931Cause {
                    cause: be16(d, 0),
                    message: d[2],
                    advisory: d[3..].to_vec(),
                }
            }
            attr::CHALLENGE_RESPONSE => {
                exact(a, d, 16, "16")?;
                let mut r = [0u8; 16];
                r.copy_from_slice(d);
                V::ChallengeResponse(r)
            }
            attr::ASSIGNED_SESSION_ID => V::AssignedSessionId(u16v(a, d)?),
            attr::CALL_SERIAL_NUMBER => V::CallSerialNumber(u32v(a, d)?),
            attr::MINIMUM_BPS => V::MinimumBps(u32v(a, d)?),
            attr::MAXIMUM_BPS => V::MaximumBps(u32v(a, d)?),
            attr::BEARER_TYPE => V::BearerType(u32v(a, d)?),
            attr::FRAMING_TYPE => V::FramingType(u32v(a, d)?),
            attr::CALLED_NUMBER => V::CalledNumber(d.to_vec()),
            attr::CALLING_NUMBER => V::CallingNumber(d.to_vec()),
            attr::SUB_ADDRESS => V::SubAddress(d.to_vec()),
            attr::TX_CONNECT_SPEED => V::TxConnectSpeed(u32v(a, d)?),
            attr::PHYSICAL_CHANNEL_ID => V::PhysicalChannelId(u32v(a, d)?),
            attr::INITIAL_RECEIVED_LCP_CONFREQ => V::InitialReceivedLcpConfreq(d.to_vec()),
            attr::LAST_SENT_LCP_CONFREQ => V::LastSentLcpConfreq(d.to_vec()),
            attr::LAST_RECEIVED_LCP_CONFREQ => V::LastReceivedLcpConfreq(d.to_vec()),
            attr::PROXY_AUTHEN_TYPE => V::ProxyAuthenType(u16v(a, d)?),
            attr::PROXY_AUTHEN_NAME => V::ProxyAuthenName(d.to_vec()),
            attr::PROXY_AUTHEN_CHALLENGE => V::ProxyAuthenChallenge(nonempty(a, d)?),
            attr::PROXY_AUTHEN_ID => {
                exact(a, d, 2, "2")?;
                V::ProxyAuthenId(d[1])
            }
            attr::PROXY_AUTHEN_RESPONSE => V::ProxyAuthenResponse(d.to_vec()),
            attr::CALL_ERRORS => {
                exact(a, d, 26, "26")?;
                V::CallErrors(CallErrors {
                    crc_errors: be32(d, 2),
                    framing_errors: be32(d, 6),
                    hardware_overruns: be32(d, 10),
                    buffer_overruns: be32(d, 14),
                    timeout_errors: be32(d, 18),
                    alignment_errors: be32(d, 22),
                })
            }
            attr::ACCM => {
                exact(a, d, 10, "10")?;
                V::Accm {
                    send: be32(d, 2),
                    receive: be32(d, 6),
                }
            }
            attr::RANDOM_VECTOR => V::RandomVector(nonempty(a, d)?),
            attr::PRIVATE_GROUP_ID => V::PrivateGroupId(d.to_vec()),
            attr::RX_CONNECT_SPEED => V::RxConnectSpeed(u32v(a, d)?),
            attr::SEQUENCING_REQUIRED => {
                exact(a, d, 0, "0")?;
                V::SequencingRequired
            }
            _ => V::Unknown {
                vendor,
                attr: a,
                data: d.to_vec(),
            },
        })
    }

    /// (Vendor ID, attribute type) of this value.
    pub fn key(&self) -> (u16, u16) {
        use AvpValue as V;
        let a = match self {
            V::MessageType(_) => attr::MESSAGE_TYPE,
            V::ResultCode { .. } => attr::RESULT_CODE,
            V::ProtocolVersion { .. } => attr::PROTOCOL_VERSION,
            V::FramingCapabilities(_) => attr::FRAMING_CAPABILITIES,
            V::BearerCapabilities(_) => attr::BEARER_CAPABILITIES,
            V::TieBreaker(_) => attr::TIE_BREAKER,
            V::FirmwareRevision(_) => attr::FIRMWARE_REVISION,
            V::HostName(_) => attr::HOST_NAME,
            V::VendorName(_) => attr::VENDOR_NAME,
            V::AssignedTunnelId(_) => attr::ASSIGNED_TUNNEL_ID,
            V::ReceiveWindowSize(_) => attr::RECEIVE_WINDOW_SIZE,
            V::Challenge(_) => attr::CHALLENGE,
            V::Q931Cause { .. } => attr::Q931_CAUSE_CODE,
            V::ChallengeResponse(_) => attr::CHALLENGE_RESPONSE,
            V::AssignedSessionId(_) => attr::ASSIGNED_SESSION_ID,
            V::CallSerialNumber(_) => attr::CALL_SERIAL_NUMBER,
            V::MinimumBps(_) => attr::MINIMUM_BPS,
            V::MaximumBps(_) => attr::MAXIMUM_BPS,
            V::BearerType(_) => attr::BEARER_TYPE,
            V::FramingType(_) => attr::FRAMING_TYPE,
            V::CalledNumber(_) => attr::CALLED_NUMBER,
            V::CallingNumber(_) => attr::CALLING_NUMBER,
            V::SubAddress(_) => attr::SUB_ADDRESS,
            V::TxConnectSpeed(_) => attr::TX_CONNECT_SPEED,
            V::PhysicalChannelId(_) => attr::PHYSICAL_CHANNEL_ID,
            V::InitialReceivedLcpConfreq(_) => attr::INITIAL_RECEIVED_LCP_CONFREQ,
            V::LastSentLcpConfreq(_) => attr::LAST_SENT_LCP_CONFREQ,
            V::LastReceivedLcpConfreq(_) => attr::LAST_RECEIVED_LCP_CONFREQ,
            V::ProxyAuthenType(_) => attr::PROXY_AUTHEN_TYPE,
            V::ProxyAuthenName(_) => attr::PROXY_AUTHEN_NAME,
            V::ProxyAuthenChallenge(_) => attr::PROXY_AUTHEN_CHALLENGE,
            V::ProxyAuthenId(_) => attr::PROXY_AUTHEN_ID,
            V::ProxyAuthenResponse(_) => attr::PROXY_AUTHEN_RESPONSE,
            V::CallErrors(_) => attr::CALL_ERRORS,
            V::Accm { .. } => attr::ACCM,
            V::RandomVector(_) => attr::RANDOM_VECTOR,
            V::PrivateGroupId(_) => attr::PRIVATE_GROUP_ID,
            V::RxConnectSpeed(_) => attr::RX_CONNECT_SPEED,
            V::SequencingRequired => attr::SEQUENCING_REQUIRED,
            V::Unknown { vendor, attr, .. } => return (*vendor, *attr),
        };
        (VENDOR_IETF, a)
    }

    /// Appends the (clear) value bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use AvpValue as V;
        match self {
            V::MessageType(v)
            | V::FirmwareRevision(v)
            | V::AssignedTunnelId(v)
            | V::ReceiveWindowSize(v)
            | V::AssignedSessionId(v)
            | V::ProxyAuthenType(v) => out.extend_from_slice(&v.to_be_bytes()),
            V::FramingCapabilities(v)
            | V::BearerCapabilities(v)
            | V::CallSerialNumber(v)
            | V::MinimumBps(v)
            | V::MaximumBps(v)
            | V::BearerType(v)
            | V::FramingType(v)
            | V::TxConnectSpeed(v)
            | V::PhysicalChannelId(v)
            | V::RxConnectSpeed(v) => out.extend_from_slice(&v.to_be_bytes()),
            V::HostName(b)
            | V::VendorName(b)
            | V::Challenge(b)
            | V::CalledNumber(b)
            | V::CallingNumber(b)
            | V::SubAddress(b)
            | V::InitialReceivedLcpConfreq(b)
            | V::LastSentLcpConfreq(b)
            | V::LastReceivedLcpConfreq(b)
            | V::ProxyAuthenName(b)
            | V::ProxyAuthenChallenge(b)
            | V::ProxyAuthenResponse(b)
            | V::RandomVector(b)
            | V::PrivateGroupId(b)
            | V::Unknown { data: b, .. } => out.extend_from_slice(b),
            V::ResultCode {
                result,
                error,
                message,
            } => {
                out.extend_from_slice(&result.to_be_bytes());
                // An error message needs the error code field in front of it.
                if error.is_some() || !message.is_empty() {
                    out.extend_from_slice(&error.unwrap_or(0).to_be_bytes());
                    out.extend_from_slice(message);
                }
            }
            V::ProtocolVersion { version, revision } => {
                out.extend_from_slice(&[*version, *revision])
            }
            V::TieBreaker(t) => out.extend_from_slice(&t.to_be_bytes()),
            V::Q931Cause {
                cause,
                message,
                advisory,
            } => {
                out.extend_from_slice(&cause.to_be_bytes());
                out.push(*message);
                out.extend_from_slice(advisory);
            }
            V::ChallengeResponse(r) => out.extend_from_slice(r),
            V::ProxyAuthenId(id) => out.extend_from_slice(&[0, *id]),
            V::CallErrors(e) => {
                out.extend_from_slice(&[0, 0]);
                for v in [
                    e.crc_errors,
                    e.framing_errors,
                    e.hardware_overruns,
                    e.buffer_overruns,
                    e.timeout_errors,
                    e.alignment_errors,
                ] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            V::Accm { send, receive } => {
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&send.to_be_bytes());
                out.extend_from_slice(&receive.to_be_bytes());
            }
            V::SequencingRequired => {}
        }
    }
}

/// One AVP: its M and H bits and its decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avp {
    /// M bit: an unknown AVP with this bit set must tear down the tunnel or session (§4.1).
    pub mandatory: bool,
    /// H bit: the value travels encrypted (§4.3). On parse, the value is already decrypted.
    pub hidden: bool,
    pub value: AvpValue,
}

impl Avp {
    /// A mandatory, clear AVP.
    pub fn m(value: AvpValue) -> Avp {
        Avp {
            mandatory: true,
            hidden: false,
            value,
        }
    }
    /// An optional, clear AVP.
    pub fn o(value: AvpValue) -> Avp {
        Avp {
            mandatory: false,
            hidden: false,
            value,
        }
    }
    /// This AVP, hidden.
    pub fn hide(mut self) -> Avp {
        self.hidden = true;
        self
    }

    /// Writes header + `value` bytes (already encrypted when hidden) to `out`.
    pub(crate) fn emit_raw(&self, value: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let len = AVP_HEADER_LEN + value.len();
        if len > AVP_MAX_LEN {
            return Err(Error::AvpTooLong {
                len: value.len(),
                max: AVP_MAX_LEN - AVP_HEADER_LEN,
            });
        }
        let mut flags = len as u16;
        if self.mandatory {
            flags |= field::FLAG_M;
        }
        if self.hidden {
            flags |= field::FLAG_H;
        }
        let (vendor, a) = self.value.key();
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&vendor.to_be_bytes());
        out.extend_from_slice(&a.to_be_bytes());
        out.extend_from_slice(value);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::strategy::{BoxedStrategy, Union};

    fn bytes(min: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), min..24)
    }

    /// Every AVP kind with valid values.
    pub(crate) fn any_value() -> BoxedStrategy<AvpValue> {
        use AvpValue as V;
        let s: Vec<BoxedStrategy<AvpValue>> = vec![
            any::<u16>().prop_map(V::MessageType).boxed(),
            (any::<u16>(), any::<Option<u16>>(), bytes(0))
                .prop_map(|(result, error, message)| V::ResultCode {
                    result,
                    error: if message.is_empty() {
                        error
                    } else {
                        Some(error.unwrap_or(0))
                    },
                    message,
                })
                .boxed(),
            (any::<u8>(), any::<u8>())
                .prop_map(|(version, revision)| V::ProtocolVersion { version, revision })
                .boxed(),
            any::<u32>().prop_map(V::FramingCapabilities).boxed(),
            any::<u32>().prop_map(V::BearerCapabilities).boxed(),
            any::<u64>().prop_map(V::TieBreaker).boxed(),
            any::<u16>().prop_map(V::FirmwareRevision).boxed(),
            bytes(1).prop_map(V::HostName).boxed(),
            bytes(0).prop_map(V::VendorName).boxed(),
            (1..=u16::MAX).prop_map(V::AssignedTunnelId).boxed(),
            (1..=u16::MAX).prop_map(V::ReceiveWindowSize).boxed(),
            bytes(1).prop_map(V::Challenge).boxed(),
            (any::<u16>(), any::<u8>(), bytes(0))
                .prop_map(|(cause, message, advisory)| V::Q931Cause {
                    cause,
                    message,
                    advisory,
                })
                .boxed(),
            any::<[u8; 16]>().prop_map(V::ChallengeResponse).boxed(),
            any::<u16>().prop_map(V::AssignedSessionId).boxed(),
            any::<u32>().prop_map(V::CallSerialNumber).boxed(),
            any::<u32>().prop_map(V::MinimumBps).boxed(),
            any::<u32>().prop_map(V::MaximumBps).boxed(),
            any::<u32>().prop_map(V::BearerType).boxed(),
            any::<u32>().prop_map(V::FramingType).boxed(),
            bytes(0).prop_map(V::CalledNumber).boxed(),
            bytes(0).prop_map(V::CallingNumber).boxed(),
            bytes(0).prop_map(V::SubAddress).boxed(),
            any::<u32>().prop_map(V::TxConnectSpeed).boxed(),
            any::<u32>().prop_map(V::PhysicalChannelId).boxed(),
            bytes(0).prop_map(V::InitialReceivedLcpConfreq).boxed(),
            bytes(0).prop_map(V::LastSentLcpConfreq).boxed(),
            bytes(0).prop_map(V::LastReceivedLcpConfreq).boxed(),
            any::<u16>().prop_map(V::ProxyAuthenType).boxed(),
            bytes(0).prop_map(V::ProxyAuthenName).boxed(),
            bytes(1).prop_map(V::ProxyAuthenChallenge).boxed(),
            any::<u8>().prop_map(V::ProxyAuthenId).boxed(),
            bytes(0).prop_map(V::ProxyAuthenResponse).boxed(),
            any::<[u32; 6]>()
                .prop_map(|e| {
                    V::CallErrors(CallErrors {
                        crc_errors: e[0],
                        framing_errors: e[1],
                        hardware_overruns: e[2],
                        buffer_overruns: e[3],
                        timeout_errors: e[4],
                        alignment_errors: e[5],
                    })
                })
                .boxed(),
            (any::<u32>(), any::<u32>())
                .prop_map(|(send, receive)| V::Accm { send, receive })
                .boxed(),
            bytes(1).prop_map(V::RandomVector).boxed(),
            bytes(0).prop_map(V::PrivateGroupId).boxed(),
            any::<u32>().prop_map(V::RxConnectSpeed).boxed(),
            Just(V::SequencingRequired).boxed(),
            (1..=u16::MAX, any::<u16>(), bytes(0))
                .prop_map(|(vendor, attr, data)| V::Unknown { vendor, attr, data })
                .boxed(),
            (40..=u16::MAX, bytes(0))
                .prop_map(|(attr, data)| V::Unknown {
                    vendor: 0,
                    attr,
                    data,
                })
                .boxed(),
        ];
        Union::new(s).boxed()
    }

    proptest! {
        #[test]
        fn value_round_trip(v in any_value()) {
            let mut buf = Vec::new();
            v.encode(&mut buf);
            let (vendor, a) = v.key();
            prop_assert_eq!(AvpValue::decode(vendor, a, &buf).unwrap(), v);
        }

        #[test]
        fn decode_never_panics(vendor in 0u16..2, a in 0u16..45, d in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = AvpValue::decode(vendor, a, &d);
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        // Assigned Tunnel ID with 3 bytes (odd length where the type needs 2).
        assert!(matches!(
            AvpValue::decode(0, attr::ASSIGNED_TUNNEL_ID, &[0, 1, 2]),
            Err(Error::AvpBadLength {
                attr: 9,
                len: 3,
                ..
            })
        ));
        assert_eq!(
            AvpValue::decode(0, attr::ASSIGNED_TUNNEL_ID, &[0, 0]),
            Err(Error::ZeroTunnelId)
        );
        assert!(AvpValue::decode(0, attr::RESULT_CODE, &[0, 1, 2]).is_err());
        assert!(AvpValue::decode(0, attr::CHALLENGE_RESPONSE, &[0; 15]).is_err());
        assert!(AvpValue::decode(0, attr::CHALLENGE, &[]).is_err());
        assert!(AvpValue::decode(0, attr::SEQUENCING_REQUIRED, &[1]).is_err());
        assert!(AvpValue::decode(0, attr::RECEIVE_WINDOW_SIZE, &[0, 0]).is_err());
        assert!(AvpValue::decode(0, attr::CALL_ERRORS, &[0; 25]).is_err());
        let msg = AvpValue::decode(0, attr::TIE_BREAKER, &[1; 7])
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "AVP 5 (Tie Breaker): value of 7 bytes, expected 8");
    }

    #[test]
    fn avp_view_checks() {
        // AVP shorter than 6 bytes: length field 5.
        assert_eq!(
            AvpPacket::new_checked(&[0x80, 0x05, 0, 0, 0, 0][..]).unwrap_err(),
            Error::AvpTooShort { at: 0, length: 5 }
        );
        // Length runs past the buffer.
        assert_eq!(
            AvpPacket::new_checked(&[0x80, 0x09, 0, 0, 0, 0, 1][..]).unwrap_err(),
            Error::AvpOverrun {
                at: 0,
                length: 9,
                left: 7
            }
        );
        assert!(matches!(
            AvpPacket::new_checked(&[0x80][..]),
            Err(Error::AvpTruncated { .. })
        ));
        // Message Type SCCRQ, M bit, reserved bits set are ignored.
        let p = AvpPacket::new_checked(&[0xbc, 0x08, 0, 0, 0, 0, 0, 1][..]).unwrap();
        assert!(p.mandatory() && !p.hidden());
        assert_eq!((p.vendor(), p.attr(), p.value()), (0, 0, &[0u8, 1][..]));
    }
}
