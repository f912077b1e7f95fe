//! RADIUS cryptography: User-Password hiding (RFC 2865 §5.2), Tunnel-Password encryption
//! (RFC 2868 §3.5), Request and Response
//! Authenticators (RFC 2865 §3, RFC 2866 §3, RFC 5176 §2.3), and the Message-Authenticator
//! (RFC 3579 §3.2, HMAC-MD5).
//!
//! Which authenticator a packet carries, and what the Message-Authenticator HMAC sees in the
//! Authenticator field:
//!
//! | packet | Authenticator field | HMAC computed with |
//! |---|---|---|
//! | Access-Request, Status-Server | random | that random value |
//! | Accounting-, CoA-, Disconnect-Request | MD5(packet with zero field + secret) | 16 zeros |
//! | any response | MD5(packet with the request's authenticator + secret) | the request's authenticator |
//!
//! In every case the Message-Authenticator value itself is zeroed for the HMAC, and it is
//! computed before the MD5 authenticator (which covers it).

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::packet::{Packet, HEADER_LEN};
use super::{attr, Error, Result};

type HmacMd5 = Hmac<Md5>;

/// How [`sign`] fills the authenticators of an encoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Access-Request / Status-Server: the Authenticator field already holds the random
    /// Request Authenticator; only the Message-Authenticator (if present) is filled.
    AccessRequest,
    /// Accounting-Request, CoA-Request, Disconnect-Request: the Request Authenticator is
    /// MD5 over the packet with a zero field.
    Request,
    /// A response to a request with this Request Authenticator.
    Response { request_authenticator: [u8; 16] },
}

/// Why a packet failed verification. Kept apart so that callers count each kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed: {0}")]
    Malformed(#[from] Error),
    #[error("Request/Response Authenticator does not match the shared secret")]
    BadAuthenticator,
    #[error("Message-Authenticator required but missing")]
    MissingMessageAuthenticator,
    #[error("Message-Authenticator does not match the shared secret")]
    BadMessageAuthenticator,
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hides a User-Password (RFC 2865 §5.2): padded with zeros to a multiple of 16 (at least 16,
/// at most 128), `c1 = p1 ⊕ MD5(secret + RA)`, `ci = pi ⊕ MD5(secret + c(i-1))`.
pub fn hide_password(secret: &[u8], authenticator: &[u8; 16], password: &[u8]) -> Result<Vec<u8>> {
    if password.len() > 128 {
        return Err(Error::PasswordTooLong {
            len: password.len(),
        });
    }
    let mut out = password.to_vec();
    let padded = password.len().div_ceil(16).max(1) * 16;
    out.resize(padded, 0);
    let mut prev: [u8; 16] = *authenticator;
    for chunk in out.chunks_mut(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(prev)
            .finalize();
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        prev.copy_from_slice(chunk);
    }
    Ok(out)
}

/// Reverses [`hide_password`]; trailing zero padding is removed.
pub fn unhide_password(secret: &[u8], authenticator: &[u8; 16], hidden: &[u8]) -> Result<Vec<u8>> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) || hidden.len() > 128 {
        return Err(Error::HiddenPasswordLength { len: hidden.len() });
    }
    let mut out = hidden.to_vec();
    let mut prev: [u8; 16] = *authenticator;
    for chunk in out.chunks_mut(16) {
        let b = Md5::new()
            .chain_update(secret)
            .chain_update(prev)
            .finalize();
        prev.copy_from_slice(chunk);
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// Longest Tunnel-Password: tag, salt and the encrypted Data-Length + password + padding
/// must fit the 253-byte attribute value, so at most 240 encrypted bytes.
pub const MAX_TUNNEL_PASSWORD: usize = 239;

/// What can be checked of an encrypted Tunnel-Password without the secret (RFC 2868 §3.5):
/// the salt's most significant bit is set, and the encrypted string is 16..=240 bytes, a
/// multiple of 16 (it holds at least the Data-Length octet).
pub fn check_tunnel_password(salt: u16, encrypted: &[u8]) -> Result<()> {
    if salt & 0x8000 == 0 {
        return Err(Error::TunnelPasswordSalt { salt });
    }
    let len = encrypted.len();
    if len == 0 || !len.is_multiple_of(16) || len > MAX_TUNNEL_PASSWORD + 1 {
        return Err(Error::TunnelPasswordLength { len });
    }
    Ok(())
}

/// The RFC 2868 §3.5 key stream applied in place: `b(1) = MD5(S + R + A)`,
/// `b(i) = MD5(S + c(i-1))`, `c(i) = p(i) ⊕ b(i)`. `decrypt` says which of the two blocks
/// is the ciphertext that feeds the next key.
fn tunnel_password_xor(
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: u16,
    data: &mut [u8],
    decrypt: bool,
) {
    let mut b = Md5::new()
        .chain_update(secret)
        .chain_update(request_authenticator)
        .chain_update(salt.to_be_bytes())
        .finalize();
    for chunk in data.chunks_mut(16) {
        let mut cipher = [0u8; 16];
        for (i, (c, k)) in chunk.iter_mut().zip(b.iter()).enumerate() {
            if decrypt {
                cipher[i] = *c;
            }
            *c ^= k;
            if !decrypt {
                cipher[i] = *c;
            }
        }
        b = Md5::new()
            .chain_update(secret)
            .chain_update(&cipher[..chunk.len()])
            .finalize();
    }
}

/// Encrypts a Tunnel-Password (RFC 2868 §3.5): the plaintext is the Data-Length octet, the
/// password and zero padding to a multiple of 16; `salt` must have its high bit set (and be
/// unique among the Tunnel-Passwords of the packet, which the caller ensures).
pub fn encrypt_tunnel_password(
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: u16,
    password: &[u8],
) -> Result<Vec<u8>> {
    if salt & 0x8000 == 0 {
        return Err(Error::TunnelPasswordSalt { salt });
    }
    if password.len() > MAX_TUNNEL_PASSWORD {
        return Err(Error::TunnelPasswordTooLong {
            len: password.len(),
        });
    }
    let mut out = Vec::with_capacity((password.len() + 1).div_ceil(16) * 16);
    out.push(password.len() as u8);
    out.extend_from_slice(password);
    out.resize(out.len().div_ceil(16) * 16, 0);
    tunnel_password_xor(secret, request_authenticator, salt, &mut out, false);
    Ok(out)
}

/// Decrypts a Tunnel-Password: checks the salt and the length ([`check_tunnel_password`]),
/// then that the Data-Length fits the decrypted bytes and leaves at most 15 bytes of
/// padding (RFC 2868 §3.5: the padding is 1..=15 octets). A wrong secret or Request
/// Authenticator fails one of those checks 15 times in 16 for a one-block password.
pub fn decrypt_tunnel_password(
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: u16,
    encrypted: &[u8],
) -> Result<Vec<u8>> {
    check_tunnel_password(salt, encrypted)?;
    let mut p = encrypted.to_vec();
    tunnel_password_xor(secret, request_authenticator, salt, &mut p, true);
    let data_length = usize::from(p[0]);
    let available = p.len() - 1;
    if data_length > available {
        return Err(Error::TunnelPasswordDataLength {
            data_length,
            available,
        });
    }
    let padding = available - data_length;
    if padding > 15 {
        return Err(Error::TunnelPasswordPadding { padding });
    }
    p.truncate(1 + data_length);
    p.remove(0);
    Ok(p)
}

/// Offset (in the packet) of the Message-Authenticator value, if the packet has one.
/// Malformed attributes and more than one Message-Authenticator are errors.
pub fn find_message_authenticator<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Option<usize>> {
    let mut found = None;
    let mut count = 0;
    for raw in p.attributes() {
        let raw = raw?;
        if raw.kind == attr::MESSAGE_AUTHENTICATOR {
            if raw.value.len() != 16 {
                return Err(Error::AttrBadLength {
                    kind: raw.kind,
                    name: "Message-Authenticator",
                    len: raw.value.len(),
                    expected: "16",
                });
            }
            count += 1;
            found = Some(raw.offset + 2);
        }
    }
    if count > 1 {
        return Err(Error::DuplicateMessageAuthenticator { count });
    }
    Ok(found)
}

/// HMAC-MD5 over `bytes` (one packet, up to its Length) with the Authenticator field read as
/// `authenticator` and the 16 bytes at `ma_at` read as zeros.
pub fn message_authenticator(
    secret: &[u8],
    bytes: &[u8],
    authenticator: &[u8; 16],
    ma_at: usize,
) -> [u8; 16] {
    let mut out = [0u8; 16];
    // HMAC takes keys of any length, so this never fails; keep the no-panic promise anyway.
    let Ok(mut m) = <HmacMd5 as Mac>::new_from_slice(secret) else {
        return out;
    };
    let ma_end = ma_at.saturating_add(16).min(bytes.len());
    let ma_at = ma_at.clamp(HEADER_LEN, ma_end);
    if bytes.len() < HEADER_LEN {
        return out;
    }
    m.update(&bytes[..4]);
    m.update(authenticator);
    m.update(&bytes[HEADER_LEN..ma_at]);
    m.update(&[0u8; 16][..ma_end - ma_at]);
    m.update(&bytes[ma_end..]);
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

/// MD5(Code + Identifier + Length + `authenticator` + Attributes + secret): the Response
/// Authenticator (with the request's authenticator) or the Accounting/CoA/Disconnect
/// Request Authenticator (with zeros).
pub fn md5_authenticator(secret: &[u8], bytes: &[u8], authenticator: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    if bytes.len() < HEADER_LEN {
        return out;
    }
    let h = Md5::new()
        .chain_update(&bytes[..4])
        .chain_update(authenticator)
        .chain_update(&bytes[HEADER_LEN..])
        .chain_update(secret)
        .finalize();
    out.copy_from_slice(&h);
    out
}

/// Fills the Message-Authenticator (if the packet has one) and the authenticator of an
/// encoded packet, as `how` says.
pub fn sign(bytes: &mut [u8], secret: &[u8], how: Signing) -> Result<()> {
    let p = Packet::new_checked(&*bytes)?;
    let len = p.length();
    let ma = find_message_authenticator(&p)?;
    let hmac_auth = match how {
        Signing::AccessRequest => p.authenticator(),
        Signing::Request => [0; 16],
        Signing::Response {
            request_authenticator,
        } => request_authenticator,
    };
    if let Some(at) = ma {
        let v = message_authenticator(secret, &bytes[..len], &hmac_auth, at);
        bytes[at..at + 16].copy_from_slice(&v);
    }
    let mut p = Packet::new_unchecked(&mut *bytes);
    match how {
        Signing::AccessRequest => {}
        Signing::Request | Signing::Response { .. } => {
            p.set_authenticator(&hmac_auth);
            let a = md5_authenticator(secret, &bytes[..len], &hmac_auth);
            Packet::new_unchecked(&mut *bytes).set_authenticator(&a);
        }
    }
    Ok(())
}

fn check_ma(
    secret: &[u8],
    bytes: &[u8],
    hmac_auth: &[u8; 16],
    ma: Option<usize>,
    required: bool,
) -> core::result::Result<(), VerifyError> {
    match ma {
        None if required => Err(VerifyError::MissingMessageAuthenticator),
        None => Ok(()),
        Some(at) => {
            let v = message_authenticator(secret, bytes, hmac_auth, at);
            if ct_eq(&v, &bytes[at..at + 16]) {
                Ok(())
            } else {
                Err(VerifyError::BadMessageAuthenticator)
            }
        }
    }
}

/// Verifies a response to a request with `request_authenticator`: the Response
/// Authenticator, then the Message-Authenticator (required if `require_ma`, checked if
/// present). The Response Authenticator is checked first so that a forged packet is
/// counted as such whatever its Message-Authenticator.
pub fn verify_response(
    bytes: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
    require_ma: bool,
) -> core::result::Result<(), VerifyError> {
    let p = Packet::new_checked(bytes)?;
    let b = p.bytes();
    if !ct_eq(
        &md5_authenticator(secret, b, request_authenticator),
        &p.authenticator(),
    ) {
        return Err(VerifyError::BadAuthenticator);
    }
    let ma = find_message_authenticator(&p)?;
    check_ma(secret, b, request_authenticator, ma, require_ma)
}

/// Verifies an Accounting-, CoA- or Disconnect-Request: the Request Authenticator
/// (RFC 2866 §3, RFC 5176 §2.3) and the Message-Authenticator if present (or if required).
pub fn verify_request(
    bytes: &[u8],
    secret: &[u8],
    require_ma: bool,
) -> core::result::Result<(), VerifyError> {
    let p = Packet::new_checked(bytes)?;
    let b = p.bytes();
    if !ct_eq(&md5_authenticator(secret, b, &[0; 16]), &p.authenticator()) {
        return Err(VerifyError::BadAuthenticator);
    }
    let ma = find_message_authenticator(&p)?;
    check_ma(secret, b, &[0; 16], ma, require_ma)
}

/// Verifies the Message-Authenticator of an Access-Request (its only integrity check).
pub fn verify_access_request(
    bytes: &[u8],
    secret: &[u8],
    require_ma: bool,
) -> core::result::Result<(), VerifyError> {
    let p = Packet::new_checked(bytes)?;
    let ma = find_message_authenticator(&p)?;
    check_ma(secret, p.bytes(), &p.authenticator(), ma, require_ma)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::radius::wire::{Attribute, MsAttr, Repr, Vsa};
    use proptest::prelude::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) const SECRET: &[u8] = b"xyzzy5461";
    pub(crate) const RA: &str = "0f403f9473978057bd83d5cb98f4227a";
    // All vectors below: tests/interop/radius/mkvectors.py (scapy 2.5 on Debian 12).
    pub(crate) const ACCESS_REQUEST_RFC2865: &str = "010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003";
    pub(crate) const ACCESS_ACCEPT_MA: &str = "02000077874ee0b521cf06762a7b7cc254a4447850125737a91133fdb35fcf60c3284b3b2cc50806c000020a1b0600000e101906636c73311a33000001371a2d2a533d303132333435363738394142434445463031323334353637383941424344454630313233343536371a0c000001371c06c0000235";
    pub(crate) const ACCOUNTING_START: &str = "0407003057aed981c0894e0bdf5b43dd049a38612806000000012c0a303030303030303101066e656d6f0806c000020a";
    pub(crate) const DISCONNECT_REQUEST_MA: &str = "28090036845cddb23aee95a7cbe3aebe214d6d1350129dd96e7a4662338706b417c39fb23bb101066e656d6f2c0a3030303030303031";

    fn ra() -> [u8; 16] {
        hex(RA).try_into().unwrap()
    }

    #[test]
    fn rfc2865_user_password() {
        // RFC 2865 §7.1 example: "arctangent" hidden with secret "xyzzy5461".
        let h = hide_password(SECRET, &ra(), b"arctangent").unwrap();
        assert_eq!(h, hex("0dbe708d93d413ce3196e43f782a0aee"));
        let r = Repr::from_bytes(&hex(ACCESS_REQUEST_RFC2865)).unwrap();
        assert_eq!(r.attributes[0], Attribute::UserName(b"nemo".to_vec()));
        assert_eq!(r.attributes[1], Attribute::UserPassword(h.clone()));
        assert_eq!(
            r.attributes[2],
            Attribute::NasIpAddress([192, 168, 1, 16].into())
        );
        assert_eq!(r.attributes[3], Attribute::NasPort(3));
        assert_eq!(unhide_password(SECRET, &ra(), &h).unwrap(), b"arctangent");
        // And we encode it to the same bytes.
        assert_eq!(r.to_bytes().unwrap(), hex(ACCESS_REQUEST_RFC2865));
    }

    #[test]
    fn password_lengths() {
        // Multi-block passwords (16, 17, 128 bytes) and the limits.
        for n in [0usize, 1, 16, 17, 31, 32, 100, 128] {
            let pw: Vec<u8> = (1..=n as u8).collect();
            let h = hide_password(b"s", &[7; 16], &pw).unwrap();
            assert_eq!(h.len(), n.div_ceil(16).max(1) * 16);
            assert_eq!(unhide_password(b"s", &[7; 16], &h).unwrap(), pw);
        }
        assert!(hide_password(b"s", &[0; 16], &[1; 129]).is_err());
        for n in [0usize, 15, 17, 144] {
            assert_eq!(
                unhide_password(b"s", &[0; 16], &vec![1; n]).unwrap_err(),
                Error::HiddenPasswordLength { len: n }
            );
        }
    }

    #[test]
    fn access_accept_with_message_authenticator() {
        let b = hex(ACCESS_ACCEPT_MA);
        verify_response(&b, &ra(), SECRET, true).unwrap();
        assert_eq!(
            verify_response(&b, &ra(), b"wrong", true),
            Err(VerifyError::BadAuthenticator)
        );
        let r = Repr::from_bytes(&b).unwrap();
        assert!(matches!(
            r.attributes[0],
            Attribute::MessageAuthenticator(_)
        ));
        assert_eq!(
            r.attributes[1],
            Attribute::FramedIpAddress([192, 0, 2, 10].into())
        );
        assert_eq!(r.attributes[2], Attribute::SessionTimeout(3600));
        assert_eq!(r.attributes[3], Attribute::Class(b"cls1".to_vec()));
        assert!(matches!(&r.attributes[4],
            Attribute::VendorSpecific(Vsa::Microsoft(v)) if matches!(&v[0], MsAttr::Chap2Success(s) if s[0] == 0x2a)));
        // Our signer reproduces scapy's bytes from the zeroed packet.
        let mut mine = r.clone();
        mine.authenticator = [0; 16];
        mine.attributes[0] = Attribute::MessageAuthenticator([0; 16]);
        let mut out = mine.to_bytes().unwrap();
        sign(
            &mut out,
            SECRET,
            Signing::Response {
                request_authenticator: ra(),
            },
        )
        .unwrap();
        assert_eq!(out, b);
        // A flipped Message-Authenticator byte with a recomputed Response Authenticator:
        // only the HMAC catches it.
        let mut forged = b.clone();
        forged[22] ^= 1;
        let a = md5_authenticator(SECRET, &forged, &ra());
        forged[4..20].copy_from_slice(&a);
        assert_eq!(
            verify_response(&forged, &ra(), SECRET, true),
            Err(VerifyError::BadMessageAuthenticator)
        );
    }

    #[test]
    fn response_without_message_authenticator() {
        // A valid Response Authenticator without a Message-Authenticator (what FreeRADIUS
        // 3.2.1 sends as shipped): fine only when the caller does not require one.
        let mut r = Repr {
            code: 2,
            identifier: 0,
            authenticator: [0; 16],
            attributes: vec![Attribute::ServiceType(1)],
        }
        .to_bytes()
        .unwrap();
        sign(
            &mut r,
            SECRET,
            Signing::Response {
                request_authenticator: ra(),
            },
        )
        .unwrap();
        assert_eq!(verify_response(&r, &ra(), SECRET, false), Ok(()));
        assert_eq!(
            verify_response(&r, &ra(), SECRET, true),
            Err(VerifyError::MissingMessageAuthenticator)
        );
    }

    #[test]
    fn accounting_request_authenticator() {
        let b = hex(ACCOUNTING_START);
        verify_request(&b, SECRET, false).unwrap();
        assert_eq!(
            verify_request(&b, SECRET, true),
            Err(VerifyError::MissingMessageAuthenticator)
        );
        let mut r = Repr::from_bytes(&b).unwrap();
        r.authenticator = [0xaa; 16];
        let mut out = r.to_bytes().unwrap();
        sign(&mut out, SECRET, Signing::Request).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn disconnect_request_with_message_authenticator() {
        let b = hex(DISCONNECT_REQUEST_MA);
        verify_request(&b, SECRET, true).unwrap();
        let mut bad = b.clone();
        bad[4] ^= 1;
        assert_eq!(
            verify_request(&bad, SECRET, true),
            Err(VerifyError::BadAuthenticator)
        );
        let mut r = Repr::from_bytes(&b).unwrap();
        r.attributes[0] = Attribute::MessageAuthenticator([0; 16]);
        let mut out = r.to_bytes().unwrap();
        sign(&mut out, SECRET, Signing::Request).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn duplicate_message_authenticator() {
        let mut out = Repr {
            code: 2,
            identifier: 0,
            authenticator: [0; 16],
            attributes: vec![Attribute::MessageAuthenticator([0; 16]); 2],
        }
        .to_bytes()
        .unwrap();
        assert!(matches!(
            sign(&mut out, SECRET, Signing::Request),
            Err(Error::DuplicateMessageAuthenticator { count: 2 })
        ));
        assert!(matches!(
            verify_request(&out, SECRET, false),
            Err(VerifyError::BadAuthenticator)
        ));
    }

    #[test]
    fn access_request_message_authenticator() {
        let mut out = Repr {
            code: 1,
            identifier: 3,
            authenticator: [9; 16],
            attributes: vec![
                Attribute::MessageAuthenticator([0; 16]),
                Attribute::UserName(b"u".to_vec()),
            ],
        }
        .to_bytes()
        .unwrap();
        sign(&mut out, SECRET, Signing::AccessRequest).unwrap();
        assert_eq!(verify_access_request(&out, SECRET, true), Ok(()));
        out[30] ^= 1;
        assert_eq!(
            verify_access_request(&out, SECRET, true),
            Err(VerifyError::BadMessageAuthenticator)
        );
    }

    proptest! {
        #[test]
        fn verify_never_panics(d in proptest::collection::vec(any::<u8>(), 0..200), ma in any::<bool>()) {
            let _ = verify_response(&d, &[0; 16], b"s", ma);
            let _ = verify_request(&d, b"s", ma);
            let _ = verify_access_request(&d, b"s", ma);
            let mut d = d;
            let _ = sign(&mut d, b"s", Signing::Request);
        }
    }
}
