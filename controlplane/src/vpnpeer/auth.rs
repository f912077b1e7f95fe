//! How the peering engine checks a peer VR's CHAP response: an [`Authenticator`] is a
//! sans-IO request/answer machine, and [`RadiusAuthenticator`] is the real one — an
//! Access-Request with User-Name `<vpn-id>/<router-id>`, CHAP-Password and CHAP-Challenge
//! (RFC 2865 §5.3, §5.40) to the VR's RADIUS server(s) through the RADIUS client
//! ([`crate::radius::client`]), which owns retransmission, failover and the
//! Message-Authenticator checks.

use std::net::SocketAddr;
use std::time::Instant;

use crate::radius::client::{self, AccessRequest, Auth, Client, ClientResult};

/// A CHAP response to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    /// Returned with the verdict.
    pub tag: u64,
    /// `<vpn-id>/<router-id>` of the VR that answered.
    pub user: String,
    pub chap_id: u8,
    pub challenge: Vec<u8>,
    pub response: [u8; 16],
}

/// What the server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Reject,
    /// No valid answer (every server tried): the channel is cleared and retried later.
    Unavailable,
}

/// The answer to the request tagged `tag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthResult {
    pub tag: u64,
    pub verdict: Verdict,
}

/// Why a request could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authenticator refused the request: {0}")]
    Refused(String),
}

/// A datagram the authenticator wants sent (RADIUS: from source socket `socket`).
pub type AuthTransmit = client::Transmit;

/// A sans-IO checker of CHAP responses.
pub trait Authenticator {
    fn start(&mut self, now: Instant, req: AuthRequest) -> Result<(), AuthError>;
    fn handle_input(&mut self, now: Instant, socket: usize, src: SocketAddr, bytes: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self) -> Option<AuthTransmit>;
    fn poll_result(&mut self) -> Option<AuthResult>;
}

/// RFC 2865 Service-Type 8, Authenticate Only: we ask for no authorisation attributes.
pub const SERVICE_TYPE_AUTHENTICATE_ONLY: u32 = 8;

/// Checks CHAP responses through a RADIUS server.
pub struct RadiusAuthenticator {
    client: Client,
}

impl RadiusAuthenticator {
    pub fn new(client: Client) -> Self {
        RadiusAuthenticator { client }
    }
    /// The RADIUS client (counters, configuration).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Authenticator for RadiusAuthenticator {
    fn start(&mut self, now: Instant, req: AuthRequest) -> Result<(), AuthError> {
        let mut r = AccessRequest::ppp(
            &req.user,
            Auth::Chap {
                id: req.chap_id,
                challenge: req.challenge,
                response: req.response,
            },
            &format!("vpnpeer-{}", req.tag),
            req.tag,
        );
        r.service_type = SERVICE_TYPE_AUTHENTICATE_ONLY;
        self.client
            .access_request(now, r)
            .map(|_| ())
            .map_err(|e| AuthError::Refused(e.to_string()))
    }
    fn handle_input(&mut self, now: Instant, socket: usize, src: SocketAddr, bytes: &[u8]) {
        self.client.handle_datagram(now, socket, src, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }
    fn poll_transmit(&mut self) -> Option<AuthTransmit> {
        self.client.poll_transmit()
    }
    fn poll_result(&mut self) -> Option<AuthResult> {
        loop {
            let e = self.client.poll_event()?;
            let verdict = match e.result {
                ClientResult::Accept(_) => Verdict::Accept,
                // A RADIUS challenge cannot be relayed over the channel: a reject.
                ClientResult::Reject { .. } | ClientResult::Challenge { .. } => Verdict::Reject,
                ClientResult::Timeout => Verdict::Unavailable,
                // Accounting is never started here.
                ClientResult::AcctOk | ClientResult::AcctFailed => continue,
            };
            return Some(AuthResult {
                tag: e.tag,
                verdict,
            });
        }
    }
}
