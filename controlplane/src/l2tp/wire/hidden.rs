//! Hidden AVPs (RFC 2661 §4.3).
//!
//! The hidden value is the subformat `Original Length (2) | Original Value | Padding`, split into
//! 16-byte chunks `p1, p2, …` and encrypted as
//! `c1 = p1 ⊕ MD5(Attribute Type (2 octets) | secret | Random Vector)`,
//! `c(i) = p(i) ⊕ MD5(secret | c(i-1))`. A last chunk shorter than 16 bytes is XORed with the
//! front of its MD5 block. The Random Vector is the value of the most recent Random Vector AVP
//! before the hidden AVP in the same message.

use md5::{Digest, Md5};

use super::{Error, Result};

/// How many bytes of padding [`hide`] adds so that the subformat fills whole 16-byte chunks.
pub fn padding_for(value_len: usize) -> usize {
    (16 - (2 + value_len) % 16) % 16
}

/// Length of the hidden value for an original value of `value_len` bytes.
pub fn hidden_len(value_len: usize) -> usize {
    2 + value_len + padding_for(value_len)
}

fn xor_stream(attr: u16, secret: &[u8], rv: &[u8], data: &mut [u8], decrypt: bool) {
    let mut prev: Option<[u8; 16]> = None;
    for chunk in data.chunks_mut(16) {
        let mut h = Md5::new();
        match &prev {
            None => {
                h.update(attr.to_be_bytes());
                h.update(secret);
                h.update(rv);
            }
            Some(c) => {
                h.update(secret);
                h.update(c);
            }
        }
        let b = h.finalize();
        let mut cipher = [0u8; 16];
        for (i, byte) in chunk.iter_mut().enumerate() {
            if decrypt {
                cipher[i] = *byte;
                *byte ^= b[i];
            } else {
                *byte ^= b[i];
                cipher[i] = *byte;
            }
        }
        prev = Some(cipher);
    }
}

/// Encrypts `value` of attribute `attr`; `padding` is appended after the value (its contents
/// are encrypted too). Returns the hidden AVP value.
pub fn hide(attr: u16, secret: &[u8], rv: &[u8], value: &[u8], padding: &[u8]) -> Result<Vec<u8>> {
    let len = u16::try_from(value.len()).map_err(|_| Error::AvpTooLong {
        len: value.len(),
        max: usize::from(u16::MAX),
    })?;
    let mut out = Vec::with_capacity(2 + value.len() + padding.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    xor_stream(attr, secret, rv, &mut out, false);
    Ok(out)
}

/// Decrypts a hidden value of attribute `attr` and returns the original value (without the
/// length sub-field and padding).
pub fn unhide(attr: u16, secret: &[u8], rv: &[u8], hidden: &[u8]) -> Result<Vec<u8>> {
    if hidden.len() < 2 {
        return Err(Error::HiddenBadLength {
            attr,
            original: 2,
            available: hidden.len(),
        });
    }
    let mut plain = hidden.to_vec();
    xor_stream(attr, secret, rv, &mut plain, true);
    let original = usize::from(u16::from_be_bytes([plain[0], plain[1]]));
    if original > plain.len() - 2 {
        return Err(Error::HiddenBadLength {
            attr,
            original,
            available: plain.len() - 2,
        });
    }
    plain.truncate(2 + original);
    plain.drain(..2);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_block_is_md5_of_type_secret_rv() {
        // With a zero plaintext the first 16 hidden bytes are the key block itself.
        let h = hide(9, b"s", b"rv", &[0u8; 14], &[]).unwrap();
        let mut m = Md5::new();
        m.update([0u8, 9]);
        m.update(b"s");
        m.update(b"rv");
        let b1 = m.finalize();
        let mut expect = [0u8; 16];
        expect.copy_from_slice(&b1);
        expect[1] ^= 14; // the length sub-field (0x000e)
        assert_eq!(&h[..], &expect[..]);
    }

    #[test]
    fn bad_original_length() {
        // Hidden bytes that decrypt to a length bigger than what follows.
        let mut h = hide(7, b"k", b"r", b"abc", &[]).unwrap();
        h.truncate(4);
        assert!(matches!(
            unhide(7, b"k", b"r", &h),
            Err(Error::HiddenBadLength { .. })
        ));
        assert!(matches!(
            unhide(7, b"k", b"r", &[1]),
            Err(Error::HiddenBadLength { .. })
        ));
    }

    proptest! {
        #[test]
        fn hide_unhide(attr in any::<u16>(), secret in proptest::collection::vec(any::<u8>(), 0..40),
                       rv in proptest::collection::vec(any::<u8>(), 1..40),
                       value in proptest::collection::vec(any::<u8>(), 0..100),
                       pad in proptest::collection::vec(any::<u8>(), 0..40)) {
            let h = hide(attr, &secret, &rv, &value, &pad).unwrap();
            prop_assert_eq!(h.len(), 2 + value.len() + pad.len());
            prop_assert_eq!(unhide(attr, &secret, &rv, &h).unwrap(), value);
        }
    }
}
