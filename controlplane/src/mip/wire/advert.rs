//! Agent Advertisement (RFC 5944 §2.1): an ICMP Router Advertisement (RFC 1256) followed by
//! the Mobility Agent Advertisement extension (type 16), optionally the Prefix-Lengths
//! extension (19) and the FA's Challenge extension (24, RFC 3012 §2). And the Agent
//! Solicitation that asks for one (RFC 5944 §2.2): an ICMP Router Solicitation (RFC 1256
//! §3.1: Type=10 | Code=0 | Checksum | Reserved), which mobility agents must answer.
//!
//! ```text
//! ICMP: Type=9 | Code | Checksum | Num Addrs | Addr Entry Size=2 | Lifetime |
//!       (Router Address, Preference Level) * Num Addrs
//! Ext 16: Type | Length=6+4N | Sequence Number | Registration Lifetime |
//!         R B H F M G r T | reserved | Care-of Address * N
//! Ext 19: Type | Length=N | Prefix Length * N
//! Ext 24: Type | Length | Challenge
//! ```

use std::net::Ipv4Addr;

use super::{need, u16_at, u32_at, v4, Error, Result};

/// ICMP type of a Router Advertisement.
pub const ICMP_ROUTER_ADVERTISEMENT: u8 = 9;
/// ICMP type of a Router Solicitation (an Agent Solicitation, RFC 5944 §2.2).
pub const ICMP_ROUTER_SOLICITATION: u8 = 10;
/// The all-mobility-agents group an Agent Solicitation may be sent to (RFC 5944 §2.2).
pub const ALL_MOBILITY_AGENTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 11);
/// Code 16: a mobility agent that does not route common traffic (RFC 5944 §2.1).
pub const CODE_MOBILITY_ONLY: u8 = 16;
/// Mobility Agent Advertisement extension.
pub const EXT_MOBILITY_AGENT: u8 = 16;
/// Prefix-Lengths extension.
pub const EXT_PREFIX_LENGTHS: u8 = 19;
/// Challenge extension (RFC 3012 §2).
pub const EXT_CHALLENGE: u8 = 24;
/// Most care-of addresses in one advertisement (the Length byte's limit).
pub const MAX_COAS: usize = 62;

/// Mobility Agent Advertisement flags (RFC 5944 §2.1.1).
pub mod flags {
    /// Registration required.
    pub const R: u8 = 0x80;
    /// Busy.
    pub const B: u8 = 0x40;
    /// Home agent.
    pub const H: u8 = 0x20;
    /// Foreign agent.
    pub const F: u8 = 0x10;
    /// Minimal encapsulation.
    pub const M: u8 = 0x08;
    /// GRE.
    pub const G: u8 = 0x04;
    /// Reverse tunnelling supported (RFC 3024).
    pub const T: u8 = 0x01;
}

/// An Agent Advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// ICMP code (0 or [`CODE_MOBILITY_ONLY`]).
    pub code: u8,
    /// Router Advertisement lifetime (seconds).
    pub lifetime: u16,
    /// (router address, preference level).
    pub routers: Vec<(Ipv4Addr, i32)>,
    /// Sequence number of the Mobility Agent Advertisement.
    pub sequence: u16,
    /// Longest registration lifetime the agent accepts.
    pub registration_lifetime: u16,
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Care-of addresses offered.
    pub care_of: Vec<Ipv4Addr>,
    /// Prefix lengths, when the extension is present.
    pub prefix_lengths: Option<Vec<u8>>,
    /// The FA's current challenge (RFC 3012 §2).
    pub challenge: Option<Vec<u8>>,
    /// Other extensions (type, data), kept as received.
    pub unknown: Vec<(u8, Vec<u8>)>,
}

/// The Internet checksum of `b`.
pub fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Checks an Agent Solicitation (the ICMP message, from its type byte): type 10, code 0
/// (RFC 1256 §5.1: anything else is silently discarded), at least 8 bytes, a good checksum.
/// Bytes after the 8 are allowed (RFC 1256 §5.1 ignores them).
pub fn check_solicitation(b: &[u8]) -> Result<()> {
    need("Agent Solicitation", b, 8)?;
    if b[0] != ICMP_ROUTER_SOLICITATION {
        return Err(Error::WrongType {
            what: "Agent Solicitation",
            want: ICMP_ROUTER_SOLICITATION,
            got: b[0],
        });
    }
    if b[1] != 0 {
        return Err(Error::Invalid("Agent Solicitation code is not 0"));
    }
    if checksum(b) != 0 {
        let mut z = b.to_vec();
        z[2] = 0;
        z[3] = 0;
        return Err(Error::BadChecksum {
            got: u16_at(b, 2),
            want: checksum(&z),
        });
    }
    Ok(())
}

/// An Agent Solicitation (8 bytes, checksum filled in).
pub fn solicitation() -> Vec<u8> {
    let mut b = vec![ICMP_ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
    let c = checksum(&b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

impl Advertisement {
    /// Decodes an ICMP message (from its type byte), checking the checksum.
    pub fn parse(b: &[u8]) -> Result<Advertisement> {
        need("Agent Advertisement", b, 8)?;
        if b[0] != ICMP_ROUTER_ADVERTISEMENT {
            return Err(Error::WrongType {
                what: "Agent Advertisement",
                want: ICMP_ROUTER_ADVERTISEMENT,
                got: b[0],
            });
        }
        let got = u16_at(b, 2);
        let mut z = b.to_vec();
        z[2] = 0;
        z[3] = 0;
        let want = checksum(&z);
        if got != want {
            return Err(Error::BadChecksum { got, want });
        }
        let n = b[4] as usize;
        if b[5] != 2 {
            return Err(Error::Invalid(
                "Router Advertisement address entry size is not 2",
            ));
        }
        let lifetime = u16_at(b, 6);
        let mut at = 8;
        need("Router Advertisement addresses", b, at + 8 * n)?;
        let mut routers = Vec::with_capacity(n);
        for _ in 0..n {
            routers.push((v4(b, at), u32_at(b, at + 4) as i32));
            at += 8;
        }
        let mut adv = Advertisement {
            code: b[1],
            lifetime,
            routers,
            sequence: 0,
            registration_lifetime: 0,
            flags: 0,
            care_of: Vec::new(),
            prefix_lengths: None,
            challenge: None,
            unknown: Vec::new(),
        };
        let mut seen_ma = false;
        while at < b.len() {
            let k = b[at];
            if k == 0 {
                at += 1;
                continue;
            }
            need("Agent Advertisement extension", b, at + 2)?;
            let len = b[at + 1] as usize;
            let body = b.get(at + 2..at + 2 + len).ok_or(Error::ExtensionOverrun {
                kind: k,
                offset: at,
                len,
                total: b.len(),
            })?;
            match k {
                EXT_MOBILITY_AGENT => {
                    if len < 6 || !(len - 6).is_multiple_of(4) {
                        return Err(Error::Invalid(
                            "Mobility Agent Advertisement length is not 6 + 4N",
                        ));
                    }
                    if seen_ma {
                        return Err(Error::Invalid(
                            "two Mobility Agent Advertisement extensions",
                        ));
                    }
                    seen_ma = true;
                    adv.sequence = u16_at(body, 0);
                    adv.registration_lifetime = u16_at(body, 2);
                    adv.flags = body[4];
                    adv.care_of = body[6..].chunks(4).map(|c| v4(c, 0)).collect();
                }
                EXT_PREFIX_LENGTHS => adv.prefix_lengths = Some(body.to_vec()),
                EXT_CHALLENGE => {
                    if body.is_empty() {
                        return Err(Error::Invalid("empty Challenge extension"));
                    }
                    adv.challenge = Some(body.to_vec());
                }
                _ => adv.unknown.push((k, body.to_vec())),
            }
            at += 2 + len;
        }
        if !seen_ma {
            return Err(Error::Invalid(
                "Router Advertisement without a Mobility Agent Advertisement extension",
            ));
        }
        Ok(adv)
    }

    /// Encodes the ICMP message with its checksum.
    pub fn emit(&self) -> Result<Vec<u8>> {
        if self.care_of.len() > MAX_COAS {
            return Err(Error::TooLong("care-of address list"));
        }
        let n = u8::try_from(self.routers.len()).map_err(|_| Error::TooLong("router list"))?;
        let mut b = vec![ICMP_ROUTER_ADVERTISEMENT, self.code, 0, 0, n, 2];
        b.extend_from_slice(&self.lifetime.to_be_bytes());
        for (a, p) in &self.routers {
            b.extend_from_slice(&a.octets());
            b.extend_from_slice(&p.to_be_bytes());
        }
        b.push(EXT_MOBILITY_AGENT);
        b.push((6 + 4 * self.care_of.len()) as u8);
        b.extend_from_slice(&self.sequence.to_be_bytes());
        b.extend_from_slice(&self.registration_lifetime.to_be_bytes());
        b.push(self.flags);
        b.push(0);
        for c in &self.care_of {
            b.extend_from_slice(&c.octets());
        }
        let mut short = |k: u8, d: &[u8], what| -> Result<()> {
            b.push(k);
            b.push(u8::try_from(d.len()).map_err(|_| Error::TooLong(what))?);
            b.extend_from_slice(d);
            Ok(())
        };
        if let Some(p) = &self.prefix_lengths {
            short(EXT_PREFIX_LENGTHS, p, "prefix lengths")?;
        }
        if let Some(c) = &self.challenge {
            short(EXT_CHALLENGE, c, "challenge")?;
        }
        for (k, d) in &self.unknown {
            short(*k, d, "extension")?;
        }
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        Ok(b)
    }
}
