//! The Authenticate phase: PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAPv2 (RFC 2759), as
//! authenticator (server) and as peer (client).

use std::time::Instant;

use super::{
    chap_md5_response, generate_nt_response, AuthMethod, AuthRequest, AuthState, Credentials,
    DownReason, Engine, Event, Role,
};
use crate::ppp::auth::check_authenticator_response;
use crate::ppp::wire::{ChapRepr, MsChapV2Response, Packet, PapRepr};

/// Offset of the identifier in a frame we built (`ff 03` + protocol + code).
const FRAME_ID_AT: usize = 5;

impl Engine {
    pub(super) fn start_auth(&mut self, now: Instant, m: AuthMethod) {
        self.auth_state = AuthState::Waiting;
        self.auth_deadline = Some(now + self.cfg.auth_timeout);
        match (self.role, m) {
            (Role::Server, AuthMethod::Pap) => {}
            (Role::Server, _) => {
                self.auth_id = self.random()[0];
                self.challenge = self.random16();
                self.auth_retx = self.cfg.max_configure;
                self.send_challenge(now);
            }
            (Role::Client, AuthMethod::Pap) => {
                self.auth_id = self.random()[0];
                let f = self.pap_frame(&PapRepr::Request {
                    id: self.auth_id,
                    peer_id: self.cfg.username.as_bytes().to_vec(),
                    password: self.cfg.password.as_bytes().to_vec(),
                });
                self.send_auth_frame(now, f);
            }
            (Role::Client, _) => {}
        }
    }

    fn send_challenge(&mut self, now: Instant) {
        let f = self.chap_frame(&ChapRepr::Challenge {
            id: self.auth_id,
            value: self.challenge.to_vec(),
            name: self.cfg.name.as_bytes().to_vec(),
        });
        self.push_frame(f);
        self.auth_timer = Some(now + self.cfg.restart_timer);
    }

    /// Client: send `f` and keep it for retransmission.
    fn send_auth_frame(&mut self, now: Instant, f: Vec<u8>) {
        self.push_frame(f.clone());
        self.auth_frame = Some(f.into_boxed_slice());
        self.auth_retx = self.cfg.max_configure;
        self.auth_timer = Some(now + self.cfg.restart_timer);
    }

    pub(super) fn auth_retransmit(&mut self, now: Instant) {
        if self.auth_state != AuthState::Waiting || self.auth_retx == 0 {
            return;
        }
        self.auth_retx -= 1;
        self.counters.tx_retransmits += 1;
        match self.role {
            Role::Server => self.send_challenge(now),
            Role::Client => {
                if let Some(f) = self.auth_frame.clone() {
                    self.push_frame(f.into_vec());
                    self.auth_timer = Some(now + self.cfg.restart_timer);
                }
            }
        }
    }

    /// Server: the peer repeated a request we already answered: answer again with its id.
    fn resend_reply(&mut self, id: u8) {
        if let Some(f) = &self.auth_frame {
            let mut f = f.to_vec();
            if let Some(b) = f.get_mut(FRAME_ID_AT) {
                *b = id;
            }
            self.push_frame(f);
        } else {
            self.counters.rx_discarded += 1;
        }
    }

    fn request_auth(&mut self, req: AuthRequest) {
        self.auth_state = AuthState::Pending;
        self.auth_timer = None;
        self.counters.auth_requests += 1;
        self.events.push_back(Event::Authenticate(req));
    }

    fn client_done(&mut self, now: Instant, ok: bool) {
        self.auth_timer = None;
        self.auth_frame = None;
        self.events.push_back(Event::AuthDone { ok });
        if ok {
            self.counters.auth_accepts += 1;
            self.auth_state = AuthState::Done;
            self.enter_network(now);
        } else {
            self.counters.auth_rejects += 1;
            self.auth_state = AuthState::Done;
            self.close(now, DownReason::AuthFailed);
        }
    }

    pub(super) fn rx_pap(&mut self, now: Instant, body: &[u8]) {
        let Ok(r) = Packet::new_checked(body).and_then(|p| PapRepr::parse(&p)) else {
            self.counters.rx_malformed += 1;
            return;
        };
        if self.auth_method != Some(AuthMethod::Pap) {
            self.counters.rx_discarded += 1;
            return;
        }
        match (self.role, self.auth_state, r) {
            (
                Role::Server,
                AuthState::Waiting,
                PapRepr::Request {
                    id,
                    peer_id,
                    password,
                },
            ) => {
                self.auth_id = id;
                self.request_auth(AuthRequest {
                    username: peer_id,
                    credentials: Credentials::Pap { password },
                });
            }
            (Role::Server, AuthState::Done, PapRepr::Request { id, .. }) => self.resend_reply(id),
            (Role::Client, AuthState::Waiting, PapRepr::Ack { id, .. }) if id == self.auth_id => {
                self.client_done(now, true)
            }
            (Role::Client, AuthState::Waiting, PapRepr::Nak { id, .. }) if id == self.auth_id => {
                self.client_done(now, false)
            }
            _ => self.counters.rx_discarded += 1,
        }
    }

    pub(super) fn rx_chap(&mut self, now: Instant, body: &[u8]) {
        let Ok(r) = Packet::new_checked(body).and_then(|p| ChapRepr::parse(&p)) else {
            self.counters.rx_malformed += 1;
            return;
        };
        let method = match self.auth_method {
            Some(m @ (AuthMethod::ChapMd5 | AuthMethod::MsChapV2)) => m,
            _ => {
                self.counters.rx_discarded += 1;
                return;
            }
        };
        match (self.role, r) {
            (Role::Server, ChapRepr::Response { id, value, name }) => {
                if id != self.auth_id {
                    // RFC 1994 §4.1: the identifier must match the Challenge's.
                    self.counters.chap_bad_identifier += 1;
                    return;
                }
                match self.auth_state {
                    AuthState::Waiting => {}
                    AuthState::Done => return self.resend_reply(id),
                    _ => {
                        self.counters.rx_discarded += 1;
                        return;
                    }
                }
                let credentials = match method {
                    AuthMethod::ChapMd5 => {
                        let Ok(response) = <[u8; 16]>::try_from(value.as_slice()) else {
                            self.counters.rx_malformed += 1;
                            return;
                        };
                        Credentials::ChapMd5 {
                            id,
                            challenge: self.challenge.to_vec(),
                            response,
                        }
                    }
                    _ => {
                        let Ok(v) = MsChapV2Response::parse(&value) else {
                            self.counters.rx_malformed += 1;
                            return;
                        };
                        Credentials::MsChapV2 {
                            id,
                            auth_challenge: self.challenge,
                            peer_challenge: v.peer_challenge,
                            nt_response: v.nt_response,
                            flags: v.flags,
                        }
                    }
                };
                self.request_auth(AuthRequest {
                    username: name,
                    credentials,
                });
            }
            (Role::Client, ChapRepr::Challenge { id, .. })
                if self.auth_state == AuthState::Waiting
                    && id == self.auth_id
                    && self.auth_frame.is_some() =>
            {
                // A retransmitted Challenge: answer with the same Response (a new MS-CHAPv2
                // peer challenge would not match the one the server may already verify).
                if let Some(f) = self.auth_frame.clone() {
                    self.push_frame(f.into_vec());
                }
            }
            (Role::Client, ChapRepr::Challenge { id, value, .. })
                if self.auth_state == AuthState::Waiting =>
            {
                let user = self.cfg.username.as_bytes().to_vec();
                let value = match method {
                    AuthMethod::ChapMd5 => {
                        chap_md5_response(id, self.cfg.password.as_bytes(), &value).to_vec()
                    }
                    _ => {
                        let Ok(ac) = <[u8; 16]>::try_from(value.as_slice()) else {
                            self.counters.rx_malformed += 1;
                            return;
                        };
                        self.challenge = ac;
                        self.peer_challenge = self.random16();
                        let nt = generate_nt_response(
                            &ac,
                            &self.peer_challenge,
                            &user,
                            &self.cfg.password,
                        );
                        MsChapV2Response {
                            peer_challenge: self.peer_challenge,
                            nt_response: nt,
                            flags: 0,
                        }
                        .to_value()
                        .to_vec()
                    }
                };
                self.auth_id = id;
                let f = self.chap_frame(&ChapRepr::Response {
                    id,
                    value,
                    name: user,
                });
                self.send_auth_frame(now, f);
            }
            (Role::Client, ChapRepr::Success { id, message })
                if self.auth_state == AuthState::Waiting && id == self.auth_id =>
            {
                let ok = method == AuthMethod::ChapMd5 || {
                    let user = self.cfg.username.as_bytes();
                    let nt = generate_nt_response(
                        &self.challenge,
                        &self.peer_challenge,
                        user,
                        &self.cfg.password,
                    );
                    check_authenticator_response(
                        &self.cfg.password,
                        &nt,
                        &self.peer_challenge,
                        &self.challenge,
                        user,
                        &message,
                    )
                };
                self.client_done(now, ok);
            }
            (Role::Client, ChapRepr::Failure { id, .. })
                if self.auth_state == AuthState::Waiting && id == self.auth_id =>
            {
                self.client_done(now, false)
            }
            _ => self.counters.rx_discarded += 1,
        }
    }
}
