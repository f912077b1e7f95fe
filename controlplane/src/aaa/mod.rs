//! The AAA of the mobile VPN (seed 003, issue 16): sans-IO engines of the Diameter Mobile
//! IPv4 application (RFC 4004) with the VPN information of the seed.
//!
//! - [`home::Home`], the **AAAH**: takes AMRs, asks its caller for the user's VPN data
//!   ([`Output::Lookup`], answered with [`home::Home::handle_lookup`] from a `vpndb` store),
//!   authenticates the mobile node, fills the VPN information cache per Session-Id
//!   (Fig. 7), determines the path (Fig. 13), generates keys (S108), sends the HAR to the
//!   home agent and, on its HAA, the AMA back.
//! - [`foreign::Foreign`], the **AAAF**: forwards AMRs to the home realm, keeps the VPN
//!   information of the answers per NAI, and answers a move between two FAs of its own
//!   domain from that cache without going home (Fig. 25, 28).
//! - [`client::FaClient`] and [`client::HaClient`], the **mobility agents' side**: the FA
//!   sends AMRs and gets AMAs; the HA answers HARs with a caller-supplied decision (the
//!   home agent itself comes with issue 17).
//!
//! Every engine is driven the same way: requests from peers come in with
//! `handle_request(now, req_id, message)` (the `req_id` is the driver's, to send the answer
//! on the right connection), answers to the engine's own requests with
//! `handle_answer(now, token, message)` or `handle_send_failed(now, token)` (no route, peer
//! down, answer timeout), and the engine's work comes out of `poll_output()` as
//! [`Output`]s. `poll_timeout()` / `handle_timeout(now)` run the transaction timers.
//! Dispatch is by Command-Code (Figs. 10–12): AMR (260) and HAR (262) requests, AMA and
//! HAA answers; any other command is refused with DIAMETER_COMMAND_UNSUPPORTED (3001).
//!
//! Result-Codes (see `docs/protocols/diameter-mip4.md`): 5001 unknown mandatory AVP,
//! 5005 missing AVP, 5004/5014 bad values, 4001 unknown user or failed MN-AAA
//! authentication (one code for both: the answer does not tell which NAIs exist), 5003 a
//! known user without an authorized VPN, 3002 home realm or home agent unreachable.
//!
//! [`driver`] runs an engine on the [`crate::diameter`] peer engine and TCP driver.

pub mod client;
pub mod driver;
pub mod foreign;
pub mod home;

#[cfg(test)]
mod tests;

use crate::diameter::mip4::MsgError;
use crate::diameter::wire::codes::{app, code, result};
use crate::diameter::wire::{Avp, Message};

/// The driver's id of a request received from a peer (to route the answer back).
pub type ReqId = u64;
/// The engine's id of a request it sends (the driver reports its answer with it).
pub type Token = u64;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Destination-Realm (routing by realm).
    pub realm: String,
    /// Destination-Host, when a particular peer is meant.
    pub host: Option<String>,
}

/// What an engine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this request; report its answer with `handle_answer(token, ..)` or its failure
    /// with `handle_send_failed(token)`.
    Send {
        /// The engine's id.
        token: Token,
        /// Realm (and host) to route to.
        dest: Dest,
        /// The request (ids other than a proxied End-to-End id are the peer engine's).
        msg: Message,
    },
    /// Send this answer to the request the driver handed in as `req`.
    Answer {
        /// The driver's id of the request.
        req: ReqId,
        /// The answer.
        msg: Message,
    },
    /// AAAH: read the VPN data of this NAI and call `handle_lookup(token, ..)`.
    Lookup {
        /// The engine's id.
        token: Token,
        /// The user's NAI (User-Name).
        nai: String,
    },
}

/// An answer to `req` with `result_code`, the Mobile IPv4 Auth-Application-Id, our origin,
/// and the error's Error-Message and Failed-AVP (the E bit for 3xxx).
pub fn error_answer(
    req: &Message,
    origin_host: &str,
    origin_realm: &str,
    result_code: u32,
    err: Option<&MsgError>,
) -> Message {
    let mut a = Message::answer_to(&req.header);
    a.header.error = result::is_protocol_error(result_code);
    if let Some(sid) = req.find(code::SESSION_ID) {
        a.avps.push(sid.clone());
    }
    a = a
        .with(Avp::u32(code::AUTH_APPLICATION_ID, app::MOBILE_IPV4))
        .with(Avp::u32(code::RESULT_CODE, result_code))
        .with(Avp::text(code::ORIGIN_HOST, origin_host))
        .with(Avp::text(code::ORIGIN_REALM, origin_realm));
    match err {
        Some(e) => e.decorate(a),
        None => a,
    }
}

/// The first check of every request: the application (3007 when not Mobile IPv4) and the
/// M-bit check against [`crate::diameter::mip4::known_avp`] (5001 with the AVP).
pub(crate) fn precheck(req: &Message) -> Result<(), (u32, Option<MsgError>)> {
    if req.header.application != app::MOBILE_IPV4 {
        return Err((result::APPLICATION_UNSUPPORTED, None));
    }
    if let Err(e) =
        req.check_mandatory(|c, v| crate::diameter::mip4::known_avp(app::MOBILE_IPV4, c, v))
    {
        let failed = req
            .avps
            .iter()
            .find(|a| {
                a.mandatory && !crate::diameter::mip4::known_avp(app::MOBILE_IPV4, a.code, a.vendor)
            })
            .cloned();
        return Err((
            result::AVP_UNSUPPORTED,
            Some(MsgError {
                result_code: result::AVP_UNSUPPORTED,
                failed_avp: failed,
                why: e.to_string(),
            }),
        ));
    }
    Ok(())
}

/// What a mobile node sends its FA to register (RFC 5944 §3.3): the Registration Request
/// with the NAI, the FA's `challenge` echoed in the MN-FA Challenge extension and the MN-AAA
/// Authentication extension of RFC 3012 (type 36, subtype 1, `spi`), its authenticator
/// computed by [`crate::mip::auth::mn_aaa_authenticator`] (RFC 3012 §8: MD5 over the
/// challenge, the key and the MD5 of the covered bytes). Returns the bytes for
/// MIP-Reg-Request and the MIP-MN-AAA-Auth that locates the authenticator in them. The load
/// generator of `varouter bench aaa` and the tests build their FAs' AMRs with it.
#[allow(clippy::too_many_arguments)]
pub fn mn_aaa_registration(
    home: std::net::Ipv4Addr,
    home_agent: std::net::Ipv4Addr,
    care_of: std::net::Ipv4Addr,
    lifetime: u16,
    identification: u64,
    nai: &str,
    challenge: &[u8],
    spi: u32,
    mn_aaa_key: &[u8],
) -> (Vec<u8>, crate::diameter::mip4::MnAaaAuth) {
    let sa = crate::mip::Sa {
        spi,
        key: mn_aaa_key.to_vec(),
    };
    let b = crate::mip::mn::MnRegistration {
        flags: 0,
        lifetime,
        home_address: home,
        home_agent,
        care_of_address: care_of,
        identification,
        nai,
        challenge,
        previous_fa: None,
        service_update: false,
        mn_ha: None,
        mn_aaa: &sa,
    }
    .build()
    .expect("an NAI and a challenge of at most 255 bytes always encode");
    let auth = crate::mip::auth::mn_aaa_diameter(&b).expect("the request just built has MN-AAA");
    (b, auth)
}
