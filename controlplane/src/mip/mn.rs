//! The mobile node's side of a registration (RFC 5944 §3.6, RFC 3012 §3.1): the Registration
//! Request the MN sends its FA, in the extension order the RFCs require — NAI (RFC 2794 §2:
//! before any authentication extension), the Previous FA Notification, MN-HA (when the MN
//! has an MN-HA association), the FA's challenge echoed in the MN-FA Challenge extension, and
//! MN-AAA last (RFC 3012 §3.1: after the challenge; an FA appends only its FA-HA extension).
//! The simulation, `aaa::mn_aaa_registration` (the load generator of `varouter bench aaa`)
//! and the wire tests use this; the reference bytes of `wire/tests.rs` come from an
//! independent Python implementation (`docs/protocols/mobile-ip.md` §Test vectors), which a
//! scapy mobile node for the lab can reuse.

use std::net::Ipv4Addr;

use super::auth::{self, AUTH_LEN};
use super::wire::ext::{kind, Extension};
use super::wire::registration::Request;
use super::wire::Error;
use super::Sa;

/// What goes into a Registration Request.
#[derive(Debug, Clone)]
pub struct MnRegistration<'a> {
    /// Flags (RFC 5944 §3.3; 0 for the defaults).
    pub flags: u8,
    /// Requested lifetime.
    pub lifetime: u16,
    /// Home address.
    pub home_address: Ipv4Addr,
    /// Home agent.
    pub home_agent: Ipv4Addr,
    /// Care-of address (the FA's).
    pub care_of_address: Ipv4Addr,
    /// Identification (NTP timestamp, §5.7).
    pub identification: u64,
    /// The NAI.
    pub nai: &'a str,
    /// The FA's challenge from its advertisement.
    pub challenge: &'a [u8],
    /// The FA the MN was registered through before (Previous FA Notification), with the
    /// forwarding lifetime asked for.
    pub previous_fa: Option<(Ipv4Addr, u16)>,
    /// Ask the AAAH to re-read the VPN database (Service-Update request, Fig. 30 ②).
    pub service_update: bool,
    /// The MN-HA association, when the MN has one.
    pub mn_ha: Option<&'a Sa>,
    /// The MN-AAA association (SPI and the key shared with the AAAH).
    pub mn_aaa: &'a Sa,
}

impl MnRegistration<'_> {
    /// The request's bytes with both authenticators computed.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        let req = Request {
            flags: self.flags,
            lifetime: self.lifetime,
            home_address: self.home_address,
            home_agent: self.home_agent,
            care_of_address: self.care_of_address,
            identification: self.identification,
            extensions: Vec::new(),
        };
        if self.challenge.is_empty() {
            return Err(Error::Invalid("MN-AAA needs the FA's challenge"));
        }
        let mut exts = vec![Extension::Nai(self.nai.as_bytes().to_vec())];
        if let Some((fa, life)) = self.previous_fa {
            exts.push(Extension::prev_fa(fa, life));
        }
        if self.service_update {
            exts.push(Extension::service_update());
        }
        let mn_ha_at = self.mn_ha.map(|sa| {
            exts.push(auth::auth_placeholder(kind::MN_HA_AUTH, sa.spi));
            exts.len() - 1
        });
        exts.push(Extension::Challenge(self.challenge.to_vec()));
        exts.push(auth::mn_aaa_placeholder(self.mn_aaa.spi));
        let aaa_at = exts.len() - 1;
        let (mut b, offs) = req.emit_extensions(&exts)?;
        if let (Some(i), Some(sa)) = (mn_ha_at, self.mn_ha) {
            let at = offs[i] + 6;
            let m = auth::hmac_md5(&sa.key, &b[..at]);
            b[at..at + AUTH_LEN].copy_from_slice(&m);
        }
        let at = offs[aaa_at] + 8;
        let m = auth::mn_aaa_authenticator(&self.mn_aaa.key, &b[..at], self.challenge);
        b[at..at + AUTH_LEN].copy_from_slice(&m);
        Ok(b)
    }
}
