//! The Diameter Mobile IPv4 application (RFC 4004): typed AMR/AMA (command 260) and HAR/HAA
//! (command 262) over the [`wire`](super::wire) codec, with the mobile VPN's extra
//! information (seed 003: the VPN information cache of Fig. 7, SPIs, keys, the old FA
//! address, the service-update request of Fig. 30) as vendor AVPs of [`VENDOR_ID`].
//!
//! Each message is a plain struct with `to_message` (builds the [`Message`], every
//! mandatory AVP of the RFC 4004 grammar in the grammar's order) and `parse` (reads a
//! received [`Message`] and refuses it with a [`MsgError`] carrying the Result-Code to
//! answer: DIAMETER_MISSING_AVP (5005) with an example of the missing AVP in Failed-AVP,
//! DIAMETER_INVALID_AVP_LENGTH (5014) / DIAMETER_INVALID_AVP_VALUE (5004) with the AVP,
//! DIAMETER_AVP_UNSUPPORTED (5001) for an unknown mandatory vendor AVP inside our grouped
//! AVPs). The top-level M-bit check is the peer engine's, with [`known_avp`] as its
//! dictionary.
//!
//! The vendor AVPs and their meaning are listed in `docs/protocols/diameter-mip4.md`.

mod vendor;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr};

use super::peer::default_known_avp;
use super::wire::codes::{app, cmd, code, result};
use super::wire::{self, Address, Avp, Message};

pub use vendor::*;

/// A received Mobile IPv4 message refused: the Result-Code to answer with and what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why} (Result-Code {result_code})")]
pub struct MsgError {
    /// Result-Code for the answer.
    pub result_code: u32,
    /// The AVP for the Failed-AVP (for 5005 an example of the missing AVP).
    pub failed_avp: Option<Avp>,
    /// Text for Error-Message and logs.
    pub why: String,
}

impl MsgError {
    fn missing(code: u32, vendor: Option<u32>, name: &str) -> MsgError {
        let mut example = Avp::new(code, Vec::new());
        example.vendor = vendor;
        MsgError {
            result_code: result::MISSING_AVP,
            failed_avp: Some(example),
            why: format!("{name} missing"),
        }
    }
    fn from_wire(e: wire::Error, avp: &Avp) -> MsgError {
        MsgError {
            result_code: e.result_code().unwrap_or(result::INVALID_AVP_VALUE),
            failed_avp: Some(avp.clone()),
            why: e.to_string(),
        }
    }
    fn invalid(avp: &Avp, why: &str) -> MsgError {
        MsgError {
            result_code: result::INVALID_AVP_VALUE,
            failed_avp: Some(avp.clone()),
            why: why.to_string(),
        }
    }
    /// Appends this error's Error-Message and Failed-AVP to an answer.
    pub fn decorate(&self, mut answer: Message) -> Message {
        answer = answer.with(Avp::text(code::ERROR_MESSAGE, &self.why).optional());
        if let Some(a) = &self.failed_avp {
            if let Ok(f) = Avp::grouped(code::FAILED_AVP, std::slice::from_ref(a)) {
                answer = answer.with(f);
            }
        }
        answer
    }
}

/// Result of parsing a Mobile IPv4 message.
pub type MsgResult<T> = Result<T, MsgError>;

/// The M-bit dictionary of a peer speaking this application: the base protocol's and
/// RFC 4004's AVPs ([`default_known_avp`]) plus our vendor AVPs in application 2.
pub fn known_avp(application: u32, avp: u32, vendor: Option<u32>) -> bool {
    default_known_avp(application, avp, vendor)
        || (application == app::MOBILE_IPV4 && vendor == Some(VENDOR_ID) && vendor_avp_known(avp))
}

// ---- field readers over an AVP list ----

/// Lookups over a list of AVPs (a message's or a grouped AVP's children).
pub(crate) struct Avps<'a>(pub(crate) &'a [Avp]);

impl<'a> Avps<'a> {
    pub(crate) fn get(&self, code: u32, vendor: Option<u32>) -> Option<&'a Avp> {
        self.0.iter().find(|a| a.code == code && a.vendor == vendor)
    }
    pub(crate) fn all(&self, code: u32, vendor: Option<u32>) -> impl Iterator<Item = &'a Avp> {
        self.0
            .iter()
            .filter(move |a| a.code == code && a.vendor == vendor)
    }
    pub(crate) fn req(&self, code: u32, name: &str) -> MsgResult<&'a Avp> {
        self.get(code, None)
            .ok_or_else(|| MsgError::missing(code, None, name))
    }
    pub(crate) fn req_v(&self, code: u32, name: &str) -> MsgResult<&'a Avp> {
        self.get(code, Some(VENDOR_ID))
            .ok_or_else(|| MsgError::missing(code, Some(VENDOR_ID), name))
    }
    fn u32(&self, code: u32, name: &str) -> MsgResult<u32> {
        let a = self.req(code, name)?;
        a.as_u32().map_err(|e| MsgError::from_wire(e, a))
    }
    fn opt_u32(&self, code: u32) -> MsgResult<Option<u32>> {
        self.get(code, None)
            .map(|a| a.as_u32().map_err(|e| MsgError::from_wire(e, a)))
            .transpose()
    }
    fn ident(&self, code: u32, name: &str) -> MsgResult<String> {
        let a = self.req(code, name)?;
        a.as_identity()
            .map(str::to_string)
            .map_err(|e| MsgError::from_wire(e, a))
    }
    fn opt_ident(&self, code: u32) -> MsgResult<Option<String>> {
        self.get(code, None)
            .map(|a| {
                a.as_identity()
                    .map(str::to_string)
                    .map_err(|e| MsgError::from_wire(e, a))
            })
            .transpose()
    }
    fn utf8(&self, code: u32, name: &str) -> MsgResult<String> {
        let a = self.req(code, name)?;
        match a.as_utf8() {
            Ok(s) if !s.is_empty() => Ok(s.to_string()),
            Ok(_) => Err(MsgError::invalid(a, "empty")),
            Err(e) => Err(MsgError::from_wire(e, a)),
        }
    }
    fn opt_utf8(&self, code: u32) -> MsgResult<Option<String>> {
        self.get(code, None)
            .map(|a| {
                a.as_utf8()
                    .map(str::to_string)
                    .map_err(|e| MsgError::from_wire(e, a))
            })
            .transpose()
    }
    fn opt_v4(&self, code: u32, vendor: Option<u32>) -> MsgResult<Option<Ipv4Addr>> {
        self.get(code, vendor).map(v4_of).transpose()
    }
    fn octets(&self, code: u32, name: &str) -> MsgResult<Vec<u8>> {
        Ok(self.req(code, name)?.data.clone())
    }
}

pub(crate) fn children(a: &Avp) -> MsgResult<Vec<Avp>> {
    a.as_grouped().map_err(|e| MsgError::from_wire(e, a))
}

pub(crate) fn v4_of(a: &Avp) -> MsgResult<Ipv4Addr> {
    match a.as_address().map_err(|e| MsgError::from_wire(e, a))? {
        Address::V4(v) => Ok(v),
        _ => Err(MsgError::invalid(a, "not an IPv4 address")),
    }
}

pub(crate) fn addr(code: u32, a: Ipv4Addr) -> Avp {
    Avp::address(code, &Address::from(IpAddr::V4(a)))
}

fn grouped(code: u32, children: &[Avp]) -> Avp {
    // Children are fixed-size or bounded by the 16 MiB AVP limit the parse already held.
    Avp::grouped(code, children).unwrap_or_else(|_| Avp::new(code, Vec::new()))
}

/// Session-Id (RFC 6733 §8.8): must be the first AVP of a request.
fn session_id(m: &Message) -> MsgResult<String> {
    let Some(first) = m.avps.first() else {
        return Err(MsgError::missing(code::SESSION_ID, None, "Session-Id"));
    };
    let a = Avps(&m.avps).req(code::SESSION_ID, "Session-Id")?;
    if first.code != code::SESSION_ID || first.vendor.is_some() {
        return Err(MsgError::invalid(a, "Session-Id is not the first AVP"));
    }
    match a.as_utf8() {
        Ok(s) if !s.is_empty() => Ok(s.to_string()),
        Ok(_) => Err(MsgError::invalid(a, "empty Session-Id")),
        Err(e) => Err(MsgError::from_wire(e, a)),
    }
}

fn check_header(m: &Message, command: u32, request: bool) -> MsgResult<()> {
    if m.header.command != command || m.header.request != request {
        return Err(MsgError {
            result_code: result::UNABLE_TO_COMPLY,
            failed_avp: None,
            why: format!(
                "command {} (request {}) is not {command} (request {request})",
                m.header.command, m.header.request
            ),
        });
    }
    Ok(())
}

fn check_auth_app(l: &Avps<'_>) -> MsgResult<()> {
    let a = l.req(code::AUTH_APPLICATION_ID, "Auth-Application-Id")?;
    match a.as_u32() {
        Ok(app::MOBILE_IPV4) => Ok(()),
        Ok(_) => Err(MsgError::invalid(
            a,
            "Auth-Application-Id is not 2 (Mobile IPv4)",
        )),
        Err(e) => Err(MsgError::from_wire(e, a)),
    }
}

// ---- grouped AVPs of RFC 4004 ----

/// MIP-MN-AAA-Auth (RFC 4004 §7.6): where the MN-AAA authenticator sits in MIP-Reg-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnAaaAuth {
    /// MIP-MN-AAA-SPI.
    pub spi: u32,
    /// MIP-Auth-Input-Data-Length: bytes of the Registration Request the authenticator covers.
    pub input_len: u32,
    /// MIP-Authenticator-Length.
    pub authenticator_len: u32,
    /// MIP-Authenticator-Offset.
    pub authenticator_offset: u32,
}

impl MnAaaAuth {
    fn to_avp(self) -> Avp {
        grouped(
            code::MIP_MN_AAA_AUTH,
            &[
                Avp::u32(code::MIP_MN_AAA_SPI, self.spi),
                Avp::u32(code::MIP_AUTH_INPUT_DATA_LENGTH, self.input_len),
                Avp::u32(code::MIP_AUTHENTICATOR_LENGTH, self.authenticator_len),
                Avp::u32(code::MIP_AUTHENTICATOR_OFFSET, self.authenticator_offset),
            ],
        )
    }
    fn from_avp(a: &Avp) -> MsgResult<MnAaaAuth> {
        let c = children(a)?;
        let l = Avps(&c);
        Ok(MnAaaAuth {
            spi: l.u32(code::MIP_MN_AAA_SPI, "MIP-MN-AAA-SPI")?,
            input_len: l.u32(
                code::MIP_AUTH_INPUT_DATA_LENGTH,
                "MIP-Auth-Input-Data-Length",
            )?,
            authenticator_len: l.u32(code::MIP_AUTHENTICATOR_LENGTH, "MIP-Authenticator-Length")?,
            authenticator_offset: l
                .u32(code::MIP_AUTHENTICATOR_OFFSET, "MIP-Authenticator-Offset")?,
        })
    }
    /// The covered input and the authenticator within `reg_request`, when they fit.
    pub fn split<'a>(&self, reg_request: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let input = reg_request.get(..self.input_len as usize)?;
        let off = self.authenticator_offset as usize;
        let auth = reg_request.get(off..off.checked_add(self.authenticator_len as usize)?)?;
        Some((input, auth))
    }
}

/// A mobility security association of RFC 4004 §7.10 (MIP-FA-to-HA-MSA and the others):
/// SPI, algorithm and the session key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msa {
    /// The SPI (MIP-FA-to-HA-SPI in MIP-FA-to-HA-MSA, MIP-HA-to-FA-SPI in MIP-HA-to-FA-MSA).
    pub spi: u32,
    /// MIP-Algorithm-Type (2: HMAC-SHA-1).
    pub algorithm: u32,
    /// MIP-Session-Key.
    pub key: Vec<u8>,
}

impl Msa {
    fn to_avp(&self, msa_code: u32, spi_code: u32) -> Avp {
        grouped(
            msa_code,
            &[
                Avp::u32(spi_code, self.spi),
                Avp::u32(code::MIP_ALGORITHM_TYPE, self.algorithm),
                Avp::new(code::MIP_SESSION_KEY, self.key.clone()),
            ],
        )
    }
    fn from_avp(a: &Avp, spi_code: u32) -> MsgResult<Msa> {
        let c = children(a)?;
        let l = Avps(&c);
        Ok(Msa {
            spi: l.u32(spi_code, "MSA SPI")?,
            algorithm: l.u32(code::MIP_ALGORITHM_TYPE, "MIP-Algorithm-Type")?,
            key: l.octets(code::MIP_SESSION_KEY, "MIP-Session-Key")?,
        })
    }
}

/// MIP-Originating-Foreign-AAA (RFC 4004 §7.17): the AAAF the request came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignAaa {
    /// Its Origin-Realm.
    pub realm: String,
    /// Its Origin-Host.
    pub host: String,
}

impl ForeignAaa {
    fn to_avp(&self) -> Avp {
        grouped(
            code::MIP_ORIGINATING_FOREIGN_AAA,
            &[
                Avp::text(code::ORIGIN_REALM, &self.realm),
                Avp::text(code::ORIGIN_HOST, &self.host),
            ],
        )
    }
    fn from_avp(a: &Avp) -> MsgResult<ForeignAaa> {
        let c = children(a)?;
        let l = Avps(&c);
        Ok(ForeignAaa {
            realm: l.ident(code::ORIGIN_REALM, "Origin-Realm")?,
            host: l.ident(code::ORIGIN_HOST, "Origin-Host")?,
        })
    }
}

/// Origin and routing of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// Destination-Realm (requests).
    pub destination_realm: String,
    /// Destination-Host (requests, optional).
    pub destination_host: Option<String>,
}

// ---- the Mobile IP Registration Request (RFC 5944 §3.3) fields the AAA reads ----

/// The fields of a Mobile IP Registration Request the AAA needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegRequestInfo {
    /// Home Address (0.0.0.0: to be assigned).
    pub home_address: Ipv4Addr,
    /// Home Agent.
    pub home_agent: Ipv4Addr,
    /// Care-of Address: the FA's address (the VPN's gateway on the MN side, Fig. 13 S109).
    pub care_of_address: Ipv4Addr,
    /// Lifetime in seconds.
    pub lifetime: u16,
}

impl RegRequestInfo {
    /// Reads the fixed part of a Registration Request (type 1, at least 24 bytes).
    pub fn parse(b: &[u8]) -> Option<RegRequestInfo> {
        if b.len() < 24 || b[0] != 1 {
            return None;
        }
        let ip = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
        Some(RegRequestInfo {
            lifetime: u16::from_be_bytes([b[2], b[3]]),
            home_address: ip(4),
            home_agent: ip(8),
            care_of_address: ip(12),
        })
    }
}

// ---- AMR ----

/// AA-Mobile-Node-Request (RFC 4004 §5.1): FA → AAAF → AAAH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amr {
    /// Session-Id.
    pub session_id: String,
    /// Origin and destination.
    pub route: Route,
    /// User-Name: the mobile node's NAI.
    pub user_name: String,
    /// MIP-Reg-Request: the Registration Request as the FA received it.
    pub reg_request: Vec<u8>,
    /// MIP-MN-AAA-Auth.
    pub mn_aaa_auth: MnAaaAuth,
    /// MIP-Mobile-Node-Address.
    pub mn_address: Option<Ipv4Addr>,
    /// MIP-Home-Agent-Address.
    pub ha_address: Option<Ipv4Addr>,
    /// MIP-Feature-Vector.
    pub feature_vector: Option<u32>,
    /// MIP-Originating-Foreign-AAA (set by the AAAF).
    pub originating_foreign_aaa: Option<ForeignAaa>,
    /// Authorization-Lifetime.
    pub authorization_lifetime: Option<u32>,
    /// Auth-Session-State.
    pub auth_session_state: Option<u32>,
    /// MIP-HA-to-FA-SPI (on a re-registration, the SPI the FA has with the HA).
    pub ha_to_fa_spi: Option<u32>,
    /// Vendor Old-FA-Address: the previous FA (Previous Foreign Agent Notification of the
    /// route optimization draft), sent on a move.
    pub old_fa: Option<Ipv4Addr>,
    /// Vendor Service-Update: re-read the VPN database (Fig. 30).
    pub service_update: bool,
    /// Route-Record entries (added by relays and the AAAF).
    pub route_record: Vec<String>,
}

impl Amr {
    /// The request (Hop-by-Hop and End-to-End ids are the peer engine's).
    pub fn to_message(&self) -> Message {
        let mut m = Message::request(cmd::AA_MOBILE_NODE, app::MOBILE_IPV4, 0, 0)
            .with(Avp::text(code::SESSION_ID, &self.session_id))
            .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
            .with(Avp::text(code::USER_NAME, &self.user_name))
            .with(Avp::text(
                code::DESTINATION_REALM,
                &self.route.destination_realm,
            ))
            .with(Avp::text(code::ORIGIN_HOST, &self.route.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.route.origin_realm))
            .with(Avp::new(code::MIP_REG_REQUEST, self.reg_request.clone()))
            .with(self.mn_aaa_auth.to_avp());
        if let Some(h) = &self.route.destination_host {
            m = m.with(Avp::text(code::DESTINATION_HOST, h));
        }
        if let Some(a) = self.mn_address {
            m = m.with(addr(code::MIP_MOBILE_NODE_ADDRESS, a));
        }
        if let Some(a) = self.ha_address {
            m = m.with(addr(code::MIP_HOME_AGENT_ADDRESS, a));
        }
        if let Some(f) = self.feature_vector {
            m = m.with(Avp::u32(code::MIP_FEATURE_VECTOR, f));
        }
        if let Some(f) = &self.originating_foreign_aaa {
            m = m.with(f.to_avp());
        }
        if let Some(l) = self.authorization_lifetime {
            m = m.with(Avp::u32(code::AUTHORIZATION_LIFETIME, l));
        }
        if let Some(s) = self.auth_session_state {
            m = m.with(Avp::u32(code::AUTH_SESSION_STATE, s));
        }
        if let Some(s) = self.ha_to_fa_spi {
            m = m.with(Avp::u32(code::MIP_HA_TO_FA_SPI, s));
        }
        for r in &self.route_record {
            m = m.with(Avp::text(code::ROUTE_RECORD, r));
        }
        if let Some(a) = self.old_fa {
            m = m.with(vendor_addr(OLD_FA_ADDRESS, a));
        }
        if self.service_update {
            m = m.with(vendor_u32(SERVICE_UPDATE, 1));
        }
        m
    }

    /// Reads a received AMR.
    pub fn parse(m: &Message) -> MsgResult<Amr> {
        check_header(m, cmd::AA_MOBILE_NODE, true)?;
        let session_id = session_id(m)?;
        let l = Avps(&m.avps);
        check_auth_app(&l)?;
        let route = Route {
            origin_host: l.ident(code::ORIGIN_HOST, "Origin-Host")?,
            origin_realm: l.ident(code::ORIGIN_REALM, "Origin-Realm")?,
            destination_realm: l.ident(code::DESTINATION_REALM, "Destination-Realm")?,
            destination_host: l.opt_ident(code::DESTINATION_HOST)?,
        };
        let user_name = l.utf8(code::USER_NAME, "User-Name")?;
        let reg_request = l.octets(code::MIP_REG_REQUEST, "MIP-Reg-Request")?;
        let mn_aaa_auth = MnAaaAuth::from_avp(l.req(code::MIP_MN_AAA_AUTH, "MIP-MN-AAA-Auth")?)?;
        let originating_foreign_aaa = l
            .get(code::MIP_ORIGINATING_FOREIGN_AAA, None)
            .map(ForeignAaa::from_avp)
            .transpose()?;
        let mut route_record = Vec::new();
        for a in l.all(code::ROUTE_RECORD, None) {
            route_record.push(
                a.as_identity()
                    .map_err(|e| MsgError::from_wire(e, a))?
                    .to_string(),
            );
        }
        Ok(Amr {
            session_id,
            route,
            user_name,
            reg_request,
            mn_aaa_auth,
            mn_address: l.opt_v4(code::MIP_MOBILE_NODE_ADDRESS, None)?,
            ha_address: l.opt_v4(code::MIP_HOME_AGENT_ADDRESS, None)?,
            feature_vector: l.opt_u32(code::MIP_FEATURE_VECTOR)?,
            originating_foreign_aaa,
            authorization_lifetime: l.opt_u32(code::AUTHORIZATION_LIFETIME)?,
            auth_session_state: l.opt_u32(code::AUTH_SESSION_STATE)?,
            ha_to_fa_spi: l.opt_u32(code::MIP_HA_TO_FA_SPI)?,
            old_fa: l.opt_v4(OLD_FA_ADDRESS, Some(VENDOR_ID))?,
            service_update: vendor_flag(&l, SERVICE_UPDATE)?,
            route_record,
        })
    }
}

// ---- AMA ----

/// AA-Mobile-Node-Answer (RFC 4004 §5.2): AAAH → AAAF → FA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ama {
    /// Session-Id.
    pub session_id: String,
    /// Result-Code.
    pub result_code: u32,
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// User-Name.
    pub user_name: Option<String>,
    /// Authorization-Lifetime.
    pub authorization_lifetime: Option<u32>,
    /// Auth-Session-State.
    pub auth_session_state: Option<u32>,
    /// MIP-Reg-Reply: the home agent's Registration Reply.
    pub reg_reply: Option<Vec<u8>>,
    /// MIP-FA-to-HA-MSA: the FA–HA key for the Mobile IP registration (RFC 4004).
    pub fa_to_ha_msa: Option<Msa>,
    /// MIP-MSA-Lifetime.
    pub msa_lifetime: Option<u32>,
    /// MIP-Home-Agent-Address.
    pub ha_address: Option<Ipv4Addr>,
    /// MIP-Mobile-Node-Address.
    pub mn_address: Option<Ipv4Addr>,
    /// Vendor VPN-Info-Cache: the VPN profiles the FA sets (Fig. 7, the FA's share).
    pub vpn: Option<VpnInfo>,
    /// Vendor Old-FA-Address: the FA the mobile node came from (the new FA sends it the
    /// VPN information in a Binding Update, Figs. 25–29).
    pub old_fa: Option<Ipv4Addr>,
    /// Error-Message.
    pub error_message: Option<String>,
}

impl Ama {
    /// An answer with only the Result-Code (errors).
    pub fn bare(session_id: &str, result_code: u32, origin_host: &str, origin_realm: &str) -> Ama {
        Ama {
            session_id: session_id.to_string(),
            result_code,
            origin_host: origin_host.to_string(),
            origin_realm: origin_realm.to_string(),
            user_name: None,
            authorization_lifetime: None,
            auth_session_state: None,
            reg_reply: None,
            fa_to_ha_msa: None,
            msa_lifetime: None,
            ha_address: None,
            mn_address: None,
            vpn: None,
            old_fa: None,
            error_message: None,
        }
    }

    /// The answer to the request with header `req`.
    pub fn to_message(&self, req: &wire::Header) -> Message {
        let mut m = Message::answer_to(req);
        m.header.error = result::is_protocol_error(self.result_code);
        m = m
            .with(Avp::text(code::SESSION_ID, &self.session_id))
            .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
            .with(Avp::u32(code::RESULT_CODE, self.result_code))
            .with(Avp::text(code::ORIGIN_HOST, &self.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.origin_realm));
        if let Some(u) = &self.user_name {
            m = m.with(Avp::text(code::USER_NAME, u));
        }
        if let Some(l) = self.authorization_lifetime {
            m = m.with(Avp::u32(code::AUTHORIZATION_LIFETIME, l));
        }
        if let Some(s) = self.auth_session_state {
            m = m.with(Avp::u32(code::AUTH_SESSION_STATE, s));
        }
        if let Some(e) = &self.error_message {
            m = m.with(Avp::text(code::ERROR_MESSAGE, e).optional());
        }
        if let Some(r) = &self.reg_reply {
            m = m.with(Avp::new(code::MIP_REG_REPLY, r.clone()));
        }
        if let Some(msa) = &self.fa_to_ha_msa {
            m = m.with(msa.to_avp(code::MIP_FA_TO_HA_MSA, code::MIP_FA_TO_HA_SPI));
        }
        if let Some(l) = self.msa_lifetime {
            m = m.with(Avp::u32(code::MIP_MSA_LIFETIME, l));
        }
        if let Some(a) = self.ha_address {
            m = m.with(addr(code::MIP_HOME_AGENT_ADDRESS, a));
        }
        if let Some(a) = self.mn_address {
            m = m.with(addr(code::MIP_MOBILE_NODE_ADDRESS, a));
        }
        if let Some(v) = &self.vpn {
            m = m.with(v.to_avp());
        }
        if let Some(a) = self.old_fa {
            m = m.with(vendor_addr(OLD_FA_ADDRESS, a));
        }
        m
    }

    /// Reads a received AMA.
    pub fn parse(m: &Message) -> MsgResult<Ama> {
        check_header(m, cmd::AA_MOBILE_NODE, false)?;
        let session_id = session_id(m)?;
        let l = Avps(&m.avps);
        Ok(Ama {
            session_id,
            result_code: l.u32(code::RESULT_CODE, "Result-Code")?,
            origin_host: l.ident(code::ORIGIN_HOST, "Origin-Host")?,
            origin_realm: l.ident(code::ORIGIN_REALM, "Origin-Realm")?,
            user_name: l.opt_utf8(code::USER_NAME)?,
            authorization_lifetime: l.opt_u32(code::AUTHORIZATION_LIFETIME)?,
            auth_session_state: l.opt_u32(code::AUTH_SESSION_STATE)?,
            reg_reply: l.get(code::MIP_REG_REPLY, None).map(|a| a.data.clone()),
            fa_to_ha_msa: l
                .get(code::MIP_FA_TO_HA_MSA, None)
                .map(|a| Msa::from_avp(a, code::MIP_FA_TO_HA_SPI))
                .transpose()?,
            msa_lifetime: l.opt_u32(code::MIP_MSA_LIFETIME)?,
            ha_address: l.opt_v4(code::MIP_HOME_AGENT_ADDRESS, None)?,
            mn_address: l.opt_v4(code::MIP_MOBILE_NODE_ADDRESS, None)?,
            vpn: l
                .get(VPN_INFO_CACHE, Some(VENDOR_ID))
                .map(VpnInfo::from_avp)
                .transpose()?,
            old_fa: l.opt_v4(OLD_FA_ADDRESS, Some(VENDOR_ID))?,
            error_message: l.opt_utf8(code::ERROR_MESSAGE)?,
        })
    }
}

// ---- HAR ----

/// Home-Agent-MIP-Request (RFC 4004 §5.3): AAAH → HA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Har {
    /// Session-Id (the AMR's).
    pub session_id: String,
    /// Origin and destination.
    pub route: Route,
    /// Authorization-Lifetime.
    pub authorization_lifetime: u32,
    /// Auth-Session-State.
    pub auth_session_state: u32,
    /// MIP-Reg-Request.
    pub reg_request: Vec<u8>,
    /// User-Name.
    pub user_name: String,
    /// MIP-Feature-Vector.
    pub feature_vector: u32,
    /// MIP-HA-to-FA-MSA: the HA–FA key of the Mobile IP registration.
    pub ha_to_fa_msa: Option<Msa>,
    /// MIP-MSA-Lifetime.
    pub msa_lifetime: Option<u32>,
    /// MIP-Originating-Foreign-AAA.
    pub originating_foreign_aaa: Option<ForeignAaa>,
    /// MIP-Mobile-Node-Address.
    pub mn_address: Option<Ipv4Addr>,
    /// MIP-Home-Agent-Address.
    pub ha_address: Option<Ipv4Addr>,
    /// Vendor VPN-Info-Cache: the VPN profiles the HA sets (FA–HA and HA–GW, or the
    /// FA–PCN profile it posts to the PCN in a Binding Update).
    pub vpn: Option<VpnInfo>,
    /// Vendor Old-FA-Address: the FA the mobile node moved from.
    pub old_fa: Option<Ipv4Addr>,
}

impl Har {
    /// The request.
    pub fn to_message(&self) -> Message {
        let mut m = Message::request(cmd::HOME_AGENT_MIP, app::MOBILE_IPV4, 0, 0)
            .with(Avp::text(code::SESSION_ID, &self.session_id))
            .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
            .with(Avp::u32(
                code::AUTHORIZATION_LIFETIME,
                self.authorization_lifetime,
            ))
            .with(Avp::u32(code::AUTH_SESSION_STATE, self.auth_session_state))
            .with(Avp::new(code::MIP_REG_REQUEST, self.reg_request.clone()))
            .with(Avp::text(code::ORIGIN_HOST, &self.route.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.route.origin_realm))
            .with(Avp::text(code::USER_NAME, &self.user_name))
            .with(Avp::text(
                code::DESTINATION_REALM,
                &self.route.destination_realm,
            ))
            .with(Avp::u32(code::MIP_FEATURE_VECTOR, self.feature_vector));
        if let Some(h) = &self.route.destination_host {
            m = m.with(Avp::text(code::DESTINATION_HOST, h));
        }
        if let Some(msa) = &self.ha_to_fa_msa {
            m = m.with(msa.to_avp(code::MIP_HA_TO_FA_MSA, code::MIP_HA_TO_FA_SPI));
        }
        if let Some(l) = self.msa_lifetime {
            m = m.with(Avp::u32(code::MIP_MSA_LIFETIME, l));
        }
        if let Some(f) = &self.originating_foreign_aaa {
            m = m.with(f.to_avp());
        }
        if let Some(a) = self.mn_address {
            m = m.with(addr(code::MIP_MOBILE_NODE_ADDRESS, a));
        }
        if let Some(a) = self.ha_address {
            m = m.with(addr(code::MIP_HOME_AGENT_ADDRESS, a));
        }
        if let Some(v) = &self.vpn {
            m = m.with(v.to_avp());
        }
        if let Some(a) = self.old_fa {
            m = m.with(vendor_addr(OLD_FA_ADDRESS, a));
        }
        m
    }

    /// Reads a received HAR.
    pub fn parse(m: &Message) -> MsgResult<Har> {
        check_header(m, cmd::HOME_AGENT_MIP, true)?;
        let session_id = session_id(m)?;
        let l = Avps(&m.avps);
        check_auth_app(&l)?;
        Ok(Har {
            session_id,
            route: Route {
                origin_host: l.ident(code::ORIGIN_HOST, "Origin-Host")?,
                origin_realm: l.ident(code::ORIGIN_REALM, "Origin-Realm")?,
                destination_realm: l.ident(code::DESTINATION_REALM, "Destination-Realm")?,
                destination_host: l.opt_ident(code::DESTINATION_HOST)?,
            },
            authorization_lifetime: l
                .u32(code::AUTHORIZATION_LIFETIME, "Authorization-Lifetime")?,
            auth_session_state: l.u32(code::AUTH_SESSION_STATE, "Auth-Session-State")?,
            reg_request: l.octets(code::MIP_REG_REQUEST, "MIP-Reg-Request")?,
            user_name: l.utf8(code::USER_NAME, "User-Name")?,
            feature_vector: l.u32(code::MIP_FEATURE_VECTOR, "MIP-Feature-Vector")?,
            ha_to_fa_msa: l
                .get(code::MIP_HA_TO_FA_MSA, None)
                .map(|a| Msa::from_avp(a, code::MIP_HA_TO_FA_SPI))
                .transpose()?,
            msa_lifetime: l.opt_u32(code::MIP_MSA_LIFETIME)?,
            originating_foreign_aaa: l
                .get(code::MIP_ORIGINATING_FOREIGN_AAA, None)
                .map(ForeignAaa::from_avp)
                .transpose()?,
            mn_address: l.opt_v4(code::MIP_MOBILE_NODE_ADDRESS, None)?,
            ha_address: l.opt_v4(code::MIP_HOME_AGENT_ADDRESS, None)?,
            vpn: l
                .get(VPN_INFO_CACHE, Some(VENDOR_ID))
                .map(VpnInfo::from_avp)
                .transpose()?,
            old_fa: l.opt_v4(OLD_FA_ADDRESS, Some(VENDOR_ID))?,
        })
    }
}

// ---- HAA ----

/// Home-Agent-MIP-Answer (RFC 4004 §5.4): HA → AAAH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Haa {
    /// Session-Id.
    pub session_id: String,
    /// Result-Code.
    pub result_code: u32,
    /// Origin-Host.
    pub origin_host: String,
    /// Origin-Realm.
    pub origin_realm: String,
    /// User-Name.
    pub user_name: Option<String>,
    /// MIP-Reg-Reply.
    pub reg_reply: Option<Vec<u8>>,
    /// MIP-Home-Agent-Address.
    pub ha_address: Option<Ipv4Addr>,
    /// MIP-Mobile-Node-Address (assigned by the HA when the MN asked for one).
    pub mn_address: Option<Ipv4Addr>,
    /// MIP-FA-to-HA-SPI.
    pub fa_to_ha_spi: Option<u32>,
    /// Vendor Old-FA-Address: the HA's binding pointed there before (Figs. 26, 29).
    pub old_fa: Option<Ipv4Addr>,
    /// Error-Message.
    pub error_message: Option<String>,
}

impl Haa {
    /// The answer to the request with header `req`.
    pub fn to_message(&self, req: &wire::Header) -> Message {
        let mut m = Message::answer_to(req);
        m.header.error = result::is_protocol_error(self.result_code);
        m = m
            .with(Avp::text(code::SESSION_ID, &self.session_id))
            .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
            .with(Avp::u32(code::RESULT_CODE, self.result_code))
            .with(Avp::text(code::ORIGIN_HOST, &self.origin_host))
            .with(Avp::text(code::ORIGIN_REALM, &self.origin_realm));
        if let Some(u) = &self.user_name {
            m = m.with(Avp::text(code::USER_NAME, u));
        }
        if let Some(e) = &self.error_message {
            m = m.with(Avp::text(code::ERROR_MESSAGE, e).optional());
        }
        if let Some(r) = &self.reg_reply {
            m = m.with(Avp::new(code::MIP_REG_REPLY, r.clone()));
        }
        if let Some(a) = self.ha_address {
            m = m.with(addr(code::MIP_HOME_AGENT_ADDRESS, a));
        }
        if let Some(a) = self.mn_address {
            m = m.with(addr(code::MIP_MOBILE_NODE_ADDRESS, a));
        }
        if let Some(s) = self.fa_to_ha_spi {
            m = m.with(Avp::u32(code::MIP_FA_TO_HA_SPI, s));
        }
        if let Some(a) = self.old_fa {
            m = m.with(vendor_addr(OLD_FA_ADDRESS, a));
        }
        m
    }

    /// Reads a received HAA.
    pub fn parse(m: &Message) -> MsgResult<Haa> {
        check_header(m, cmd::HOME_AGENT_MIP, false)?;
        let session_id = session_id(m)?;
        let l = Avps(&m.avps);
        Ok(Haa {
            session_id,
            result_code: l.u32(code::RESULT_CODE, "Result-Code")?,
            origin_host: l.ident(code::ORIGIN_HOST, "Origin-Host")?,
            origin_realm: l.ident(code::ORIGIN_REALM, "Origin-Realm")?,
            user_name: l.opt_utf8(code::USER_NAME)?,
            reg_reply: l.get(code::MIP_REG_REPLY, None).map(|a| a.data.clone()),
            ha_address: l.opt_v4(code::MIP_HOME_AGENT_ADDRESS, None)?,
            mn_address: l.opt_v4(code::MIP_MOBILE_NODE_ADDRESS, None)?,
            fa_to_ha_spi: l.opt_u32(code::MIP_FA_TO_HA_SPI)?,
            old_fa: l.opt_v4(OLD_FA_ADDRESS, Some(VENDOR_ID))?,
            error_message: l.opt_utf8(code::ERROR_MESSAGE)?,
        })
    }
}
