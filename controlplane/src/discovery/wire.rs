//! VR discovery wire format (`docs/protocols/vr-discovery.md` §3).
//!
//! Two layers, smoltcp style: [`Packet`] is a zero-copy view of a datagram whose `new_checked`
//! validates every length once (header, Length field, sealed body size); [`Repr`] is the owned
//! value, produced by [`Repr::open`] (authenticate and decrypt with the VPN's [`VpnKey`]) and
//! turned back into bytes by [`Repr::seal`].
//!
//! Layout: a 24-byte clear header (version, type, length, key id, sender router id, sequence)
//! that is the AEAD's associated data, then the ChaCha20-Poly1305 ciphertext of the 14- or
//! 26-byte body (VPN id, router id, acknowledged sequence, address family, VR address), then
//! the 16-byte tag. Only the key id, the sender router and the sequence travel in clear.
//!
//! [`ReplayWindow`] is the receiver's per-(VPN, sender) sequence window. Nothing here panics on
//! any input; every failure is an [`Error`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;

/// Protocol version carried in byte 0.
pub const VERSION: u8 = 1;
/// Default UDP port (RFC 6335 dynamic range, above Linux's ephemeral range; see the doc §4).
pub const UDP_PORT: u16 = 61701;
/// Length of the clear header.
pub const HEADER_LEN: usize = 24;
/// Length of the Poly1305 tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Body length before the address: VPN id (4), router id (4), acknowledged sequence (8), family (1), reserved (1).
pub const BODY_FIXED: usize = 18;
/// Smallest valid datagram (IPv4 VR address).
pub const MIN_LEN: usize = HEADER_LEN + BODY_FIXED + 4 + TAG_LEN;
/// Largest valid datagram (IPv6 VR address).
pub const MAX_LEN: usize = HEADER_LEN + BODY_FIXED + 16 + TAG_LEN;
/// Length of a [`KeyId`].
pub const KEY_ID_LEN: usize = 8;
/// Shortest accepted per-VPN secret.
pub const MIN_SECRET_LEN: usize = 16;
/// Width of the [`ReplayWindow`] in sequence numbers.
pub const REPLAY_WINDOW: u64 = 64;

/// Message types (byte 1).
pub mod kind {
    /// Addition message: a VR of the VPN exists at (router id, VR address).
    pub const ADDITION: u8 = 1;
    /// Reply to an addition or withdrawal, carrying the responder's own VR.
    pub const ACK: u8 = 2;
    /// Withdrawal message: the VR at (router id, VR address) was deleted.
    pub const WITHDRAWAL: u8 = 3;
}

/// Address family codes of the body.
mod family {
    pub const IPV4: u8 = 4;
    pub const IPV6: u8 = 6;
}

/// Decoding and encoding errors of discovery messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("discovery datagram of {len} bytes is shorter than the minimum of {MIN_LEN}")]
    Truncated { len: usize },
    #[error("discovery version {0} is not {VERSION}")]
    BadVersion(u8),
    #[error("discovery message type {0} is unknown")]
    BadType(u8),
    #[error("discovery Length field {length} differs from the {datagram}-byte datagram")]
    LengthMismatch { length: usize, datagram: usize },
    #[error("discovery Length {0} is neither {MIN_LEN} (IPv4) nor {MAX_LEN} (IPv6)")]
    BadLength(usize),
    #[error("discovery message fails authentication (wrong key or altered)")]
    BadTag,
    #[error("discovery body: address family {family} does not match a {len}-byte address")]
    BadFamily { family: u8, len: usize },
    #[error("discovery body: router id {body} differs from the header's sender {header}")]
    RouterMismatch { header: Ipv4Addr, body: Ipv4Addr },
    #[error("discovery {0} carries a non-zero acknowledged sequence")]
    UnexpectedAckSeq(&'static str),
    #[error("discovery sequence number 0 is reserved")]
    ZeroSequence,
    #[error("discovery VPN secret of {0} bytes is shorter than {MIN_SECRET_LEN}")]
    ShortSecret(usize),
}

/// Result of this module.
pub type Result<T> = core::result::Result<T, Error>;

/// Clear identifier of a VPN key: the first 8 bytes of HMAC-SHA-256(secret, label).
pub type KeyId = [u8; KEY_ID_LEN];

const KEY_ID_LABEL: &[u8] = b"varouter vr-discovery v1 key id";
const AEAD_LABEL: &[u8] = b"varouter vr-discovery v1 chacha20-poly1305";

/// A VPN's discovery key: the clear [`KeyId`] and the ChaCha20-Poly1305 key, both derived from
/// the configured secret with HMAC-SHA-256 under distinct labels (so the key id reveals
/// nothing of the encryption key).
pub struct VpnKey {
    id: KeyId,
    aead: LessSafeKey,
}

impl core::fmt::Debug for VpnKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VpnKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl VpnKey {
    /// Derives the key id and the AEAD key from a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn derive(secret: &[u8]) -> Result<VpnKey> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::ShortSecret(secret.len()));
        }
        let prk = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&prk, KEY_ID_LABEL);
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&tag.as_ref()[..KEY_ID_LEN]);
        let k = hmac::sign(&prk, AEAD_LABEL);
        // A 32-byte key is exactly what CHACHA20_POLY1305 takes: this cannot fail.
        let unbound = UnboundKey::new(&aead::CHACHA20_POLY1305, k.as_ref())
            .map_err(|_| Error::ShortSecret(secret.len()))?;
        Ok(VpnKey {
            id,
            aead: LessSafeKey::new(unbound),
        })
    }

    /// The clear key id carried in the header.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

/// Zero-copy view of a discovery datagram with its lengths validated.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Validates version, type, Length (equal to the datagram, and one of the two valid sizes).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < MIN_LEN {
            return Err(Error::Truncated { len: b.len() });
        }
        if b[0] != VERSION {
            return Err(Error::BadVersion(b[0]));
        }
        if !matches!(b[1], kind::ADDITION | kind::ACK | kind::WITHDRAWAL) {
            return Err(Error::BadType(b[1]));
        }
        let length = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if length != b.len() {
            return Err(Error::LengthMismatch {
                length,
                datagram: b.len(),
            });
        }
        if length != MIN_LEN && length != MAX_LEN {
            return Err(Error::BadLength(length));
        }
        Ok(Packet { buffer })
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type ([`kind`]).
    pub fn msg_type(&self) -> u8 {
        self.b()[1]
    }

    /// The Length field (equal to the datagram length once checked).
    pub fn length(&self) -> usize {
        usize::from(u16::from_be_bytes([self.b()[2], self.b()[3]]))
    }

    /// Clear key id selecting the VPN key.
    pub fn key_id(&self) -> KeyId {
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&self.b()[4..12]);
        id
    }

    /// Sender router id.
    pub fn sender(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    /// Per-sender sequence number.
    pub fn seq(&self) -> u64 {
        let mut s = [0; 8];
        s.copy_from_slice(&self.b()[16..24]);
        u64::from_be_bytes(s)
    }

    /// The clear header (the AEAD's associated data).
    pub fn header(&self) -> &[u8] {
        &self.b()[..HEADER_LEN]
    }

    /// Ciphertext followed by the tag.
    pub fn sealed(&self) -> &[u8] {
        &self.b()[HEADER_LEN..]
    }
}

/// Owned discovery message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Message type ([`kind`]).
    pub msg_type: u8,
    /// Sender router id (header; equal to the body's router id).
    pub sender: Ipv4Addr,
    /// Per-sender sequence number, never 0.
    pub seq: u64,
    /// VPN identifier (encrypted).
    pub vpn_id: u32,
    /// Sequence of the addition or withdrawal an ACK answers; 0 in other types.
    pub ack_seq: u64,
    /// Address of the sender's VR in the VPN (encrypted).
    pub vr_addr: IpAddr,
}

fn nonce(sender: Ipv4Addr, seq: u64) -> Nonce {
    let mut n = [0; 12];
    n[..4].copy_from_slice(&sender.octets());
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn type_name(t: u8) -> &'static str {
    match t {
        kind::ADDITION => "addition",
        kind::ACK => "ack",
        _ => "withdrawal",
    }
}

impl Repr {
    /// Authenticates and decrypts a checked packet with `key` (the key its key id selects).
    pub fn open<T: AsRef<[u8]>>(packet: &Packet<T>, key: &VpnKey) -> Result<Repr> {
        let seq = packet.seq();
        if seq == 0 {
            return Err(Error::ZeroSequence);
        }
        let sender = packet.sender();
        let mut body = [0u8; MAX_LEN - HEADER_LEN];
        let sealed = packet.sealed();
        let buf = &mut body[..sealed.len()];
        buf.copy_from_slice(sealed);
        let plain = key
            .aead
            .open_in_place(nonce(sender, seq), Aad::from(packet.header()), buf)
            .map_err(|_| Error::BadTag)?;
        // Lengths: checked by new_checked; plain is BODY_FIXED + 4 or + 16.
        let vpn_id = u32::from_be_bytes([plain[0], plain[1], plain[2], plain[3]]);
        let router = Ipv4Addr::new(plain[4], plain[5], plain[6], plain[7]);
        let mut a = [0; 8];
        a.copy_from_slice(&plain[8..16]);
        let ack_seq = u64::from_be_bytes(a);
        let fam = plain[16];
        let addr = &plain[BODY_FIXED..];
        let vr_addr = match (fam, addr.len()) {
            (family::IPV4, 4) => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
            (family::IPV6, 16) => {
                let mut o = [0; 16];
                o.copy_from_slice(addr);
                IpAddr::V6(Ipv6Addr::from(o))
            }
            _ => {
                return Err(Error::BadFamily {
                    family: fam,
                    len: addr.len(),
                })
            }
        };
        if router != sender {
            return Err(Error::RouterMismatch {
                header: sender,
                body: router,
            });
        }
        let msg_type = packet.msg_type();
        if msg_type != kind::ACK && ack_seq != 0 {
            return Err(Error::UnexpectedAckSeq(type_name(msg_type)));
        }
        Ok(Repr {
            msg_type,
            sender,
            seq,
            vpn_id,
            ack_seq,
            vr_addr,
        })
    }

    /// Checks, then authenticates and decrypts raw bytes with the key `lookup` returns for the
    /// key id (`None`: [`Error::BadTag`], the sender does not hold a key we know).
    pub fn open_bytes<'k>(
        bytes: &[u8],
        lookup: impl FnOnce(&KeyId) -> Option<&'k VpnKey>,
    ) -> Result<Repr> {
        let p = Packet::new_checked(bytes)?;
        let key = lookup(&p.key_id()).ok_or(Error::BadTag)?;
        Repr::open(&p, key)
    }

    /// Encodes, encrypts and authenticates with `key`. Fails on sequence 0, an unknown type or
    /// an acknowledged sequence outside an ACK, so every sealed message opens again.
    pub fn seal(&self, key: &VpnKey) -> Result<Vec<u8>> {
        if self.seq == 0 {
            return Err(Error::ZeroSequence);
        }
        if !matches!(self.msg_type, kind::ADDITION | kind::ACK | kind::WITHDRAWAL) {
            return Err(Error::BadType(self.msg_type));
        }
        if self.msg_type != kind::ACK && self.ack_seq != 0 {
            return Err(Error::UnexpectedAckSeq(type_name(self.msg_type)));
        }
        let (fam, addr): (u8, Vec<u8>) = match self.vr_addr {
            IpAddr::V4(a) => (family::IPV4, a.octets().to_vec()),
            IpAddr::V6(a) => (family::IPV6, a.octets().to_vec()),
        };
        let len = HEADER_LEN + BODY_FIXED + addr.len() + TAG_LEN;
        let mut out = Vec::with_capacity(len);
        out.push(VERSION);
        out.push(self.msg_type);
        // len is MIN_LEN or MAX_LEN, both < 256.
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&self.sender.octets());
        out.extend_from_slice(&self.seq.to_be_bytes());
        let mut body = Vec::with_capacity(BODY_FIXED + addr.len() + TAG_LEN);
        body.extend_from_slice(&self.vpn_id.to_be_bytes());
        body.extend_from_slice(&self.sender.octets());
        body.extend_from_slice(&self.ack_seq.to_be_bytes());
        body.push(fam);
        body.push(0);
        body.extend_from_slice(&addr);
        key.aead
            .seal_in_place_append_tag(nonce(self.sender, self.seq), Aad::from(&out[..]), &mut body)
            .map_err(|_| Error::BadTag)?;
        out.extend_from_slice(&body);
        Ok(out)
    }
}

/// Anti-replay window of one (VPN, sender router): the highest sequence accepted and a bitmap
/// of the [`REPLAY_WINDOW`] sequences below it. Checked only after authentication, so a
/// forger cannot move it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    top: u64,
    bits: u64,
}

impl ReplayWindow {
    /// Whether `seq` is fresh: above the top, or within the window and not seen yet.
    pub fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.top {
            return true;
        }
        let back = self.top - seq;
        back < REPLAY_WINDOW && self.bits & (1 << back) == 0
    }

    /// Checks `seq` and records it; `false` (and no change) if it is a replay or too old.
    pub fn accept(&mut self, seq: u64) -> bool {
        if !self.check(seq) {
            return false;
        }
        if seq > self.top {
            let shift = seq - self.top;
            self.bits = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.bits << shift
            };
            self.bits |= 1;
            self.top = seq;
        } else {
            self.bits |= 1 << (self.top - seq);
        }
        true
    }

    /// Highest sequence accepted so far (0: none).
    pub fn top(&self) -> u64 {
        self.top
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &[u8]) -> VpnKey {
        VpnKey::derive(s).unwrap()
    }

    fn add() -> Repr {
        Repr {
            msg_type: kind::ADDITION,
            sender: Ipv4Addr::new(192, 0, 2, 1),
            seq: 0x0102_0304_0506_0708,
            vpn_id: 0xA,
            ack_seq: 0,
            vr_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        }
    }

    #[test]
    fn header_layout_by_hand() {
        let k = key(b"vpn-a-secret-0123456789");
        let bytes = add().seal(&k).unwrap();
        assert_eq!(bytes.len(), MIN_LEN);
        let mut expect = vec![1, 1, 0, MIN_LEN as u8];
        expect.extend_from_slice(&k.id());
        expect.extend_from_slice(&[192, 0, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[..HEADER_LEN], &expect[..]);
        // The VPN id and the VR address are not in clear.
        assert!(!bytes.windows(4).any(|w| w == [10, 0, 0, 1]));
        assert!(!bytes[HEADER_LEN..].windows(4).any(|w| w == [0, 0, 0, 0xA]));
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.seq(), 0x0102_0304_0506_0708);
        assert_eq!(p.sender(), Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(Repr::open(&p, &k).unwrap(), add());
    }

    #[test]
    fn key_id_is_a_function_of_the_secret() {
        let a = key(b"0123456789abcdef");
        let b = key(b"0123456789abcdef");
        let c = key(b"0123456789abcdeF");
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_eq!(VpnKey::derive(b"short").unwrap_err(), Error::ShortSecret(5));
    }

    #[test]
    fn ipv6_ack_round_trip() {
        let k = key(b"vpn-b-secret-0123456789");
        let r = Repr {
            msg_type: kind::ACK,
            ack_seq: 77,
            vr_addr: "2001:db8::1".parse().unwrap(),
            ..add()
        };
        let bytes = r.seal(&k).unwrap();
        assert_eq!(bytes.len(), MAX_LEN);
        assert_eq!(Repr::open_bytes(&bytes, |_| Some(&k)).unwrap(), r);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let k = key(b"vpn-a-secret-0123456789");
        let good = add().seal(&k).unwrap();
        for n in 0..MIN_LEN {
            assert_eq!(
                Packet::new_checked(&good[..n]).unwrap_err(),
                Error::Truncated { len: n }
            );
        }
        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            Error::BadVersion(2)
        );
        let mut t = good.clone();
        t[1] = 9;
        assert_eq!(Packet::new_checked(&t[..]).unwrap_err(), Error::BadType(9));
        let mut l = good.clone();
        l[3] += 1;
        assert!(matches!(
            Packet::new_checked(&l[..]).unwrap_err(),
            Error::LengthMismatch { .. }
        ));
        let mut long = good.clone();
        long.extend_from_slice(&[0; 4]);
        long[3] += 4;
        assert_eq!(
            Packet::new_checked(&long[..]).unwrap_err(),
            Error::BadLength(MIN_LEN + 4)
        );
        // Length field claiming a valid size on a shorter datagram.
        let mut lie = good.clone();
        lie[3] = MAX_LEN as u8;
        assert!(matches!(
            Packet::new_checked(&lie[..]).unwrap_err(),
            Error::LengthMismatch { .. }
        ));
    }

    #[test]
    fn bad_tag_wrong_key_and_any_flipped_bit() {
        let k = key(b"vpn-a-secret-0123456789");
        let other = key(b"vpn-z-secret-0123456789");
        let good = add().seal(&k).unwrap();
        let p = Packet::new_checked(&good[..]).unwrap();
        assert_eq!(Repr::open(&p, &other).unwrap_err(), Error::BadTag);
        // Header fields after the length (key id, sender, seq) and the sealed part are all covered.
        for i in 4..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x40;
            let p = Packet::new_checked(&b[..]).unwrap();
            let e = Repr::open(&p, &k).unwrap_err();
            assert!(
                matches!(e, Error::BadTag | Error::ZeroSequence),
                "byte {i}: {e:?}"
            );
        }
        assert_eq!(
            Repr::open_bytes(&good, |_| None).unwrap_err(),
            Error::BadTag
        );
    }

    #[test]
    fn type_change_is_detected() {
        // The type byte is associated data: turning an addition into a withdrawal fails.
        let k = key(b"vpn-a-secret-0123456789");
        let mut b = add().seal(&k).unwrap();
        b[1] = kind::WITHDRAWAL;
        assert_eq!(
            Repr::open_bytes(&b, |_| Some(&k)).unwrap_err(),
            Error::BadTag
        );
    }

    #[test]
    fn seal_refuses_what_open_would_refuse() {
        let k = key(b"vpn-a-secret-0123456789");
        assert_eq!(
            Repr { seq: 0, ..add() }.seal(&k).unwrap_err(),
            Error::ZeroSequence
        );
        assert_eq!(
            Repr {
                ack_seq: 3,
                ..add()
            }
            .seal(&k)
            .unwrap_err(),
            Error::UnexpectedAckSeq("addition")
        );
        assert_eq!(
            Repr {
                msg_type: 0,
                ..add()
            }
            .seal(&k)
            .unwrap_err(),
            Error::BadType(0)
        );
    }

    #[test]
    fn forged_body_with_the_right_key_is_still_checked() {
        // Someone holding the key but lying about the router id in the body.
        let k = key(b"vpn-a-secret-0123456789");
        let mut hdr = vec![VERSION, kind::ADDITION, 0, MIN_LEN as u8];
        hdr.extend_from_slice(&k.id());
        hdr.extend_from_slice(&[192, 0, 2, 1]);
        hdr.extend_from_slice(&5u64.to_be_bytes());
        let mut body = vec![
            0, 0, 0, 0xA, 192, 0, 2, 99, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 0, 1,
        ];
        k.aead
            .seal_in_place_append_tag(
                nonce(Ipv4Addr::new(192, 0, 2, 1), 5),
                Aad::from(&hdr[..]),
                &mut body,
            )
            .unwrap();
        hdr.extend_from_slice(&body);
        assert!(matches!(
            Repr::open_bytes(&hdr, |_| Some(&k)).unwrap_err(),
            Error::RouterMismatch { .. }
        ));
        // Family 6 with a 4-byte address.
        let mut hdr2 = hdr[..HEADER_LEN].to_vec();
        let mut body2 = vec![
            0, 0, 0, 0xA, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 0, 1,
        ];
        k.aead
            .seal_in_place_append_tag(
                nonce(Ipv4Addr::new(192, 0, 2, 1), 5),
                Aad::from(&hdr2[..]),
                &mut body2,
            )
            .unwrap();
        hdr2.extend_from_slice(&body2);
        assert_eq!(
            Repr::open_bytes(&hdr2, |_| Some(&k)).unwrap_err(),
            Error::BadFamily { family: 6, len: 4 }
        );
    }

    #[test]
    fn replay_window() {
        let mut w = ReplayWindow::default();
        assert!(!w.accept(0));
        assert!(w.accept(10));
        assert!(!w.accept(10), "replayed sequence");
        assert!(w.accept(8), "reordered within the window");
        assert!(!w.accept(8));
        assert!(w.accept(10 + REPLAY_WINDOW));
        assert!(!w.accept(10), "fell out of the window");
        assert!(w.accept(11), "still inside the window");
        assert!(w.accept(u64::MAX));
        assert!(!w.accept(u64::MAX));
        assert_eq!(w.top(), u64::MAX);
    }
}
