//! Authentication crypto of PPP, as pure functions: CHAP-MD5 (RFC 1994 §4.1) and MS-CHAPv2
//! (RFC 2759 §8), plus [`verify_local`], which decides an [`AuthRequest`] against a known
//! password exactly as a RADIUS server would (a real verifier for local users and tests).
//!
//! The engine never calls [`verify_local`] itself: it hands every request to its driver as
//! [`Event::Authenticate`](super::engine::Event::Authenticate).

use des::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use md4::Md4;
use md5::Md5;
use sha1::{Digest, Sha1};

/// An authentication protocol the engine can negotiate (LCP Authentication-Protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// PAP, RFC 1334 (protocol `c023`).
    Pap,
    /// CHAP with MD5, RFC 1994 (protocol `c223`, algorithm 5).
    ChapMd5,
    /// MS-CHAPv2, RFC 2759 (protocol `c223`, algorithm `0x81`).
    MsChapV2,
}

/// What a RADIUS client (or [`verify_local`]) needs to decide one authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// PAP Peer-ID or CHAP Name, as sent by the peer.
    pub username: Vec<u8>,
    pub credentials: Credentials,
}

/// Method-specific part of an [`AuthRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// PAP: the clear-text password (RADIUS User-Password).
    Pap { password: Vec<u8> },
    /// CHAP-MD5: CHAP-Password is `id || response`, CHAP-Challenge is `challenge`.
    ChapMd5 {
        id: u8,
        challenge: Vec<u8>,
        response: [u8; 16],
    },
    /// MS-CHAPv2 (RFC 2548 MS-CHAP-Challenge = `auth_challenge`, MS-CHAP2-Response =
    /// `id, flags, peer_challenge, 8 zero bytes, nt_response`).
    MsChapV2 {
        id: u8,
        auth_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
        flags: u8,
    },
}

impl AuthRequest {
    /// The method of this request.
    pub fn method(&self) -> AuthMethod {
        match self.credentials {
            Credentials::Pap { .. } => AuthMethod::Pap,
            Credentials::ChapMd5 { .. } => AuthMethod::ChapMd5,
            Credentials::MsChapV2 { .. } => AuthMethod::MsChapV2,
        }
    }
}

/// The driver's decision on an [`AuthRequest`], given to
/// [`Engine::auth_result`](super::engine::Engine::auth_result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    Accept {
        /// MS-CHAPv2 only: the authenticator response `S=<40 hex digits>` (RADIUS
        /// MS-CHAP2-Success without its identifier byte). Required for MS-CHAPv2, ignored
        /// otherwise.
        mschap2_success: Option<String>,
        /// Text for the peer (PAP Ack message, CHAP Success message, MS-CHAPv2 `M=`).
        message: String,
    },
    Reject {
        /// Text for the peer (PAP Nak message, CHAP Failure message, MS-CHAPv2 `M=`).
        message: String,
    },
}

/// CHAP-MD5 response: `MD5(identifier || secret || challenge)` (RFC 1994 §4.1).
pub fn chap_md5_response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// ChallengeHash (RFC 2759 §8.2): the first 8 bytes of
/// `SHA1(peer_challenge || auth_challenge || username)`.
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    username: &[u8],
) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer_challenge);
    h.update(auth_challenge);
    h.update(username);
    let d = h.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// NtPasswordHash (RFC 2759 §8.3): MD4 of the UTF-16LE password.
pub fn nt_password_hash(password: &str) -> [u8; 16] {
    let mut h = Md4::new();
    for unit in password.encode_utf16() {
        h.update(unit.to_le_bytes());
    }
    h.finalize().into()
}

/// HashNtPasswordHash (RFC 2759 §8.4): MD4 of the password hash.
pub fn hash_nt_password_hash(hash: &[u8; 16]) -> [u8; 16] {
    Md4::digest(hash).into()
}

/// Spreads 7 key bytes over the high 7 bits of 8 DES key bytes (parity bits left 0; DES
/// ignores them).
fn des_key(k: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = k[0] & 0xfe;
    for i in 1..7 {
        out[i] = ((k[i - 1] << (8 - i)) | (k[i] >> i)) & 0xfe;
    }
    out[7] = k[6] << 1;
    out
}

/// ChallengeResponse (RFC 2759 §8.5): the 8-byte challenge DES-encrypted under the three
/// 7-byte thirds of the zero-padded 21-byte password hash.
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        let key = des_key(&z[i * 7..i * 7 + 7]);
        let cipher = des::Des::new(GenericArray::from_slice(&key));
        let mut block = GenericArray::clone_from_slice(challenge);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
    }
    out
}

/// GenerateNTResponse (RFC 2759 §8.1).
pub fn generate_nt_response(
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    password: &str,
) -> [u8; 24] {
    let ch = challenge_hash(peer_challenge, auth_challenge, username);
    challenge_response(&ch, &nt_password_hash(password))
}

const MAGIC1: &[u8] = b"Magic server to client signing constant";
const MAGIC2: &[u8] = b"Pad to make it do more than one iteration";

/// GenerateAuthenticatorResponse (RFC 2759 §8.7) from the password hash: `S=` and 40
/// upper-case hex digits.
pub fn generate_authenticator_response_from_hash(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    username: &[u8],
) -> String {
    let hh = hash_nt_password_hash(password_hash);
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest = h.finalize();
    let ch = challenge_hash(peer_challenge, auth_challenge, username);
    let mut h = Sha1::new();
    h.update(digest);
    h.update(ch);
    h.update(MAGIC2);
    let digest = h.finalize();
    let mut s = String::with_capacity(42);
    s.push_str("S=");
    for b in digest {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7) from the clear-text password.
pub fn generate_authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    username: &[u8],
) -> String {
    generate_authenticator_response_from_hash(
        &nt_password_hash(password),
        nt_response,
        peer_challenge,
        auth_challenge,
        username,
    )
}

/// CheckAuthenticatorResponse (RFC 2759 §8.8): does the Success message `msg` (as sent by
/// the authenticator: `S=<40 hex> M=...`) start with the expected authenticator response?
/// Hex digits are compared case-insensitively.
pub fn check_authenticator_response(
    password: &str,
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    username: &[u8],
    msg: &[u8],
) -> bool {
    let want = generate_authenticator_response(
        password,
        nt_response,
        peer_challenge,
        auth_challenge,
        username,
    );
    msg.len() >= want.len() && msg[..want.len()].eq_ignore_ascii_case(want.as_bytes())
}

/// Constant-time comparison of two byte strings (length is not secret).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Decides `req` against the user's clear-text `password`, computing what a RADIUS server
/// would: for MS-CHAPv2 it checks the NT response and builds the authenticator response.
/// Always `Some` for the methods this module knows; `None` is reserved for methods that
/// cannot be verified locally.
pub fn verify_local(req: &AuthRequest, password: &str) -> Option<AuthResult> {
    let ok = match &req.credentials {
        Credentials::Pap { password: given } => ct_eq(given, password.as_bytes()),
        Credentials::ChapMd5 {
            id,
            challenge,
            response,
        } => ct_eq(
            &chap_md5_response(*id, password.as_bytes(), challenge),
            response,
        ),
        Credentials::MsChapV2 {
            auth_challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            let want =
                generate_nt_response(auth_challenge, peer_challenge, &req.username, password);
            if ct_eq(&want, nt_response) {
                return Some(AuthResult::Accept {
                    mschap2_success: Some(generate_authenticator_response(
                        password,
                        nt_response,
                        peer_challenge,
                        auth_challenge,
                        &req.username,
                    )),
                    message: "Authentication succeeded".into(),
                });
            }
            false
        }
    };
    Some(if ok {
        AuthResult::Accept {
            mschap2_success: None,
            message: "Authentication succeeded".into(),
        }
    } else {
        AuthResult::Reject {
            message: "Authentication failed".into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 2759 §9.2, "Hash and Response computations".
    const USER: &[u8] = b"User";
    const PASSWORD: &str = "clientPass";
    const AUTH_CHALLENGE: [u8; 16] = [
        0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C, 0x60, 0x21, 0x32, 0x26, 0x26,
        0x28,
    ];
    const PEER_CHALLENGE: [u8; 16] = [
        0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29, 0x5F, 0x2B, 0x3A, 0x33, 0x7C,
        0x7E,
    ];
    const CHALLENGE: [u8; 8] = [0xD0, 0x2E, 0x43, 0x86, 0xBC, 0xE9, 0x12, 0x26];
    const NT_RESPONSE: [u8; 24] = [
        0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83,
        0x54, 0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
    ];
    const PASSWORD_HASH: [u8; 16] = [
        0x44, 0xEB, 0xBA, 0x8D, 0x53, 0x12, 0xB8, 0xD6, 0x11, 0x47, 0x44, 0x11, 0xF5, 0x69, 0x89,
        0xAE,
    ];
    const PASSWORD_HASH_HASH: [u8; 16] = [
        0x41, 0xC0, 0x0C, 0x58, 0x4B, 0xD2, 0xD9, 0x1C, 0x40, 0x17, 0xA2, 0xA1, 0x2F, 0xA5, 0x9F,
        0x3F,
    ];
    const AUTHENTICATOR_RESPONSE: &str = "S=407A5589115FD0D6209F510FE9C04566932CDA56";

    #[test]
    fn rfc2759_section_9_2_vectors() {
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, USER),
            CHALLENGE
        );
        assert_eq!(nt_password_hash(PASSWORD), PASSWORD_HASH);
        assert_eq!(hash_nt_password_hash(&PASSWORD_HASH), PASSWORD_HASH_HASH);
        assert_eq!(challenge_response(&CHALLENGE, &PASSWORD_HASH), NT_RESPONSE);
        assert_eq!(
            generate_nt_response(&AUTH_CHALLENGE, &PEER_CHALLENGE, USER, PASSWORD),
            NT_RESPONSE
        );
        assert_eq!(
            generate_authenticator_response(
                PASSWORD,
                &NT_RESPONSE,
                &PEER_CHALLENGE,
                &AUTH_CHALLENGE,
                USER
            ),
            AUTHENTICATOR_RESPONSE
        );
        let msg = format!("{} M=Welcome", AUTHENTICATOR_RESPONSE.to_lowercase());
        assert!(check_authenticator_response(
            PASSWORD,
            &NT_RESPONSE,
            &PEER_CHALLENGE,
            &AUTH_CHALLENGE,
            USER,
            msg.as_bytes()
        ));
        assert!(!check_authenticator_response(
            "wrong",
            &NT_RESPONSE,
            &PEER_CHALLENGE,
            &AUTH_CHALLENGE,
            USER,
            msg.as_bytes()
        ));
        assert!(!check_authenticator_response(
            PASSWORD,
            &NT_RESPONSE,
            &PEER_CHALLENGE,
            &AUTH_CHALLENGE,
            USER,
            b"S=407A"
        ));
    }

    #[test]
    fn chap_md5_known_answer() {
        // Hand-derived from RFC 1994 §4.1 and checked with
        // `python3 -c 'import hashlib; print(hashlib.md5(bytes([1])+b"secret"+bytes(range(16))).hexdigest())'`.
        let r = chap_md5_response(1, b"secret", &(0u8..16).collect::<Vec<_>>());
        assert_eq!(
            r.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            CHAP_MD5_EXPECTED
        );
    }
    const CHAP_MD5_EXPECTED: &str = "740e86463bda3a4d7017d6e0fba0699d";

    #[test]
    fn verify_local_decides_every_method() {
        let ms = AuthRequest {
            username: USER.to_vec(),
            credentials: Credentials::MsChapV2 {
                id: 7,
                auth_challenge: AUTH_CHALLENGE,
                peer_challenge: PEER_CHALLENGE,
                nt_response: NT_RESPONSE,
                flags: 0,
            },
        };
        assert_eq!(
            verify_local(&ms, PASSWORD),
            Some(AuthResult::Accept {
                mschap2_success: Some(AUTHENTICATOR_RESPONSE.into()),
                message: "Authentication succeeded".into()
            })
        );
        assert!(matches!(
            verify_local(&ms, "nope"),
            Some(AuthResult::Reject { .. })
        ));
        let chap = AuthRequest {
            username: b"u".to_vec(),
            credentials: Credentials::ChapMd5 {
                id: 3,
                challenge: vec![9; 16],
                response: chap_md5_response(3, b"pw", &[9; 16]),
            },
        };
        assert!(matches!(
            verify_local(&chap, "pw"),
            Some(AuthResult::Accept { .. })
        ));
        assert!(matches!(
            verify_local(&chap, "px"),
            Some(AuthResult::Reject { .. })
        ));
        let pap = AuthRequest {
            username: b"u".to_vec(),
            credentials: Credentials::Pap {
                password: b"pw".to_vec(),
            },
        };
        assert!(matches!(
            verify_local(&pap, "pw"),
            Some(AuthResult::Accept { .. })
        ));
        assert!(matches!(
            verify_local(&pap, "p"),
            Some(AuthResult::Reject { .. })
        ));
        assert_eq!(pap.method(), AuthMethod::Pap);
    }
}
