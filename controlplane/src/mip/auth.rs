//! The authenticators of Mobile IPv4, in one place for every side (mobile node, FA, HA, PCN,
//! AAAH).
//!
//! - **MN-HA, MN-FA, FA-HA** (RFC 5944 §3.5.1) and the **route optimisation** extension on
//!   binding messages: the default algorithm, HMAC-MD5 (RFC 2104) keyed with the mobility
//!   security association's key, over the UDP payload up to and including the SPI of the
//!   extension ("the Registration Request or Reply data || all prior Extensions in their
//!   entirety || the Type, Length, and SPI of this Extension").
//! - **MN-AAA** (RFC 3012 §6 and §8, the generalized authentication extension with subtype 1):
//!
//!   ```text
//!   MD5( high-order byte of the Challenge || key ||
//!        MD5( preceding Mobile IP data || Type, Subtype, Length, SPI ) ||
//!        least-order 237 bytes of the Challenge )
//!   ```
//!
//!   The Challenge is the FA's, as the mobile node echoes it in the MN-FA Challenge
//!   extension (132), which must come before the MN-AAA extension (RFC 3012 §3.1), so it is
//!   also among the covered bytes. The "preceding Mobile IP data" is the Registration
//!   Request from its first byte up to the MN-AAA extension (the fixed part and every
//!   extension before it, the NAI and the challenge included); then the extension's own Type,
//!   Subtype, Length and SPI. Nothing after the SPI is covered (the FA may append its FA-HA
//!   extension after it). The least-order 237 bytes of a challenge shorter than 238 bytes are
//!   the whole challenge: its first byte then counts twice (as the R-UIM implementations of
//!   3GPP2 do); a longer challenge contributes its last 237 bytes.
//!
//! [`verify_mn_aaa`] is what the AAAH runs on MIP-Reg-Request: it finds the extensions
//! itself and only accepts the RFC 4004 MIP-MN-AAA-Auth offsets the FA sent when they point
//! at exactly those bytes, so an FA cannot make the AAAH check a different span.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

use super::wire::ext::{Extension, Located, SUBTYPE_MN_AAA};
use super::wire::registration::{Request, REQUEST_LEN};

/// Length of the default authenticators (HMAC-MD5 and the RFC 3012 MD5 construction).
pub const AUTH_LEN: usize = 16;
/// How many of the challenge's least-order bytes the MN-AAA construction takes (RFC 3012 §8).
pub const CHALLENGE_TAIL: usize = 237;

/// Why an authenticator is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The message does not parse.
    #[error("registration does not parse: {0}")]
    Malformed(#[from] super::wire::Error),
    /// No extension of the kind looked for.
    #[error("no {0} extension")]
    Missing(&'static str),
    /// MN-AAA without an MN-FA Challenge before it.
    #[error("MN-AAA extension without an MN-FA Challenge extension before it")]
    NoChallenge,
    /// The Diameter MIP-MN-AAA-Auth offsets do not match the extension in the request.
    #[error("MIP-MN-AAA-Auth (input {input_len}, offset {offset}, length {len}) does not match the MN-AAA extension (covered {want_input}, authenticator at {want_offset})")]
    OffsetMismatch {
        /// MIP-Auth-Input-Data-Length.
        input_len: u32,
        /// MIP-Authenticator-Offset.
        offset: u32,
        /// MIP-Authenticator-Length.
        len: u32,
        /// What it must be.
        want_input: usize,
        /// What it must be.
        want_offset: usize,
    },
    /// SPI differs from the one the AAA expected.
    #[error("SPI {got} is not {want}")]
    WrongSpi {
        /// In the message.
        got: u32,
        /// Expected.
        want: u32,
    },
    /// The authenticator does not match.
    #[error("authenticator mismatch")]
    Mismatch,
}

/// HMAC-MD5 of `covered` keyed with `key` (RFC 5944 §3.5.1 default).
pub fn hmac_md5(key: &[u8], covered: &[u8]) -> [u8; AUTH_LEN] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(covered);
    mac.finalize().into_bytes().into()
}

/// The MN-AAA authenticator of RFC 3012 §8 over `covered` (preceding data || Type, Subtype,
/// Length, SPI) with the FA's `challenge` (at least one byte).
pub fn mn_aaa_authenticator(key: &[u8], covered: &[u8], challenge: &[u8]) -> [u8; AUTH_LEN] {
    let inner = Md5::digest(covered);
    let mut h = Md5::new();
    if let Some(first) = challenge.first() {
        h.update([*first]);
        h.update(key);
        h.update(inner);
        // The least-order 237 bytes: the whole challenge when it is shorter.
        h.update(&challenge[challenge.len().saturating_sub(CHALLENGE_TAIL)..]);
    } else {
        h.update(key);
        h.update(inner);
    }
    h.finalize().into()
}

/// Builds a message from its fixed part and `exts`, filling the authenticator of
/// `exts[index]` (an [`Extension::Auth`] or [`Extension::GenAuth`] whose authenticator is a
/// 16-byte placeholder) with `mac(covered)`. Returns the bytes.
pub fn seal(
    fixed: Vec<u8>,
    exts: &[Extension],
    index: usize,
    mac: impl FnOnce(&[u8]) -> [u8; AUTH_LEN],
) -> Result<Vec<u8>, super::wire::Error> {
    let mut b = fixed;
    let mut at = None;
    for (i, e) in exts.iter().enumerate() {
        if i == index {
            let hdr = e.auth_header_len().ok_or(super::wire::Error::Invalid(
                "sealed extension is not an authentication extension",
            ))?;
            at = Some(b.len() + hdr);
        }
        e.emit(&mut b)?;
    }
    let at = at.ok_or(super::wire::Error::Invalid(
        "sealed extension index out of range",
    ))?;
    if b.len() < at + AUTH_LEN {
        return Err(super::wire::Error::Invalid(
            "authenticator placeholder shorter than 16 bytes",
        ));
    }
    let m = mac(&b[..at]);
    b[at..at + AUTH_LEN].copy_from_slice(&m);
    Ok(b)
}

/// The placeholder of an authentication extension to [`seal`].
pub fn auth_placeholder(kind: u8, spi: u32) -> Extension {
    Extension::Auth {
        kind,
        spi,
        authenticator: vec![0; AUTH_LEN],
    }
}

/// The MN-AAA placeholder to [`seal`].
pub fn mn_aaa_placeholder(spi: u32) -> Extension {
    Extension::GenAuth {
        subtype: SUBTYPE_MN_AAA,
        spi,
        authenticator: vec![0; AUTH_LEN],
    }
}

/// Checks the HMAC-MD5 authenticator of the first extension of type `kind` (32–35) in
/// `msg` (whose extensions `exts` were parsed from it). Returns its SPI.
pub fn verify_hmac(msg: &[u8], exts: &[Located], kind: u8, key: &[u8]) -> Result<u32, AuthError> {
    let (off, spi, auth) = exts
        .iter()
        .find_map(|l| match &l.ext {
            Extension::Auth {
                kind: k,
                spi,
                authenticator,
            } if *k == kind => Some((l.offset, *spi, authenticator)),
            _ => None,
        })
        .ok_or(AuthError::Missing(kind_name(kind)))?;
    let covered = msg.get(..off + 6).ok_or(AuthError::Mismatch)?;
    let want = hmac_md5(key, covered);
    if auth.len() == AUTH_LEN && constant_eq(auth, &want) {
        Ok(spi)
    } else {
        Err(AuthError::Mismatch)
    }
}

fn kind_name(kind: u8) -> &'static str {
    use super::wire::ext::kind as k;
    match kind {
        k::MN_HA_AUTH => "MN-HA authentication",
        k::MN_FA_AUTH => "MN-FA authentication",
        k::FA_HA_AUTH => "FA-HA authentication",
        k::RO_AUTH => "route optimisation authentication",
        _ => "authentication",
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where the MN-AAA extension of a registration request is.
struct MnAaaAt<'a> {
    /// Offset of its Type byte.
    offset: usize,
    spi: u32,
    /// The challenge of the MN-FA Challenge extension before it.
    challenge: &'a [u8],
    authenticator: &'a [u8],
}

fn locate_mn_aaa(exts: &[Located]) -> Result<MnAaaAt<'_>, AuthError> {
    let (i, off, spi, auth) = exts
        .iter()
        .enumerate()
        .find_map(|(i, l)| match &l.ext {
            Extension::GenAuth {
                subtype: SUBTYPE_MN_AAA,
                spi,
                authenticator,
            } => Some((i, l.offset, *spi, authenticator.as_slice())),
            _ => None,
        })
        .ok_or(AuthError::Missing("MN-AAA authentication"))?;
    let challenge = exts[..i]
        .iter()
        .rev()
        .find_map(|l| match &l.ext {
            Extension::Challenge(c) => Some(c.as_slice()),
            _ => None,
        })
        .ok_or(AuthError::NoChallenge)?;
    Ok(MnAaaAt {
        offset: off,
        spi,
        challenge,
        authenticator: auth,
    })
}

/// The checks of the AAAH (and of any side) on a Registration Request carrying MN-AAA:
/// parses `reg_request`, finds the MN-AAA extension and the challenge before it, checks the
/// RFC 4004 `diameter` offsets (input length and authenticator offset both the extension's
/// offset plus 8, authenticator length 16) when given, and the authenticator with `key`.
/// Returns the SPI.
pub fn verify_mn_aaa(
    key: &[u8],
    reg_request: &[u8],
    diameter: Option<&crate::diameter::mip4::MnAaaAuth>,
) -> Result<u32, AuthError> {
    let req = Request::parse(reg_request)?;
    let MnAaaAt {
        offset: off,
        spi,
        challenge,
        authenticator: auth,
    } = locate_mn_aaa(&req.extensions)?;
    let covered_len = off + 8;
    if let Some(d) = diameter {
        if d.input_len as usize != covered_len
            || d.authenticator_offset as usize != covered_len
            || d.authenticator_len as usize != AUTH_LEN
        {
            return Err(AuthError::OffsetMismatch {
                input_len: d.input_len,
                offset: d.authenticator_offset,
                len: d.authenticator_len,
                want_input: covered_len,
                want_offset: covered_len,
            });
        }
        if d.spi != spi {
            return Err(AuthError::WrongSpi {
                got: spi,
                want: d.spi,
            });
        }
    }
    debug_assert!(covered_len >= REQUEST_LEN);
    let want = mn_aaa_authenticator(key, &reg_request[..covered_len], challenge);
    if auth.len() == AUTH_LEN && constant_eq(auth, &want) {
        Ok(spi)
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The RFC 4004 MIP-MN-AAA-Auth an FA sends for `reg_request` (its MN-AAA extension located
/// by parsing).
pub fn mn_aaa_diameter(reg_request: &[u8]) -> Result<crate::diameter::mip4::MnAaaAuth, AuthError> {
    let req = Request::parse(reg_request)?;
    let MnAaaAt {
        offset: off, spi, ..
    } = locate_mn_aaa(&req.extensions)?;
    Ok(crate::diameter::mip4::MnAaaAuth {
        spi,
        input_len: (off + 8) as u32,
        authenticator_len: AUTH_LEN as u32,
        authenticator_offset: (off + 8) as u32,
    })
}
