//! What protects the page, without I/O: logged-in sessions (random cookie, idle expiry, a
//! CSRF token each), the failed-login throttle per NAI and per source address, and the
//! helpers for cookies and constant-time comparison. Times are passed in (`now`), so the
//! tests drive them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use vpndb::Nai;

/// The session cookie.
pub const SESSION_COOKIE: &str = "portal_session";
/// The login form's CSRF cookie (double submit: the form carries the same value).
pub const LOGIN_COOKIE: &str = "portal_login";
/// Sessions kept at most; a login beyond that is refused (503) until some expire.
pub const MAX_SESSIONS: usize = 10_000;
/// A session ends this long after its login whatever its activity.
pub const MAX_SESSION_AGE: Duration = Duration::from_secs(12 * 3600);

/// Failed logins of one NAI before it is locked.
pub const NAI_FAILURES: u32 = 5;
/// Failed logins from one source address before it is locked.
pub const SOURCE_FAILURES: u32 = 20;
/// How long a lock lasts after the last failure (and how long failures are remembered).
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Throttle entries kept per kind at most (the oldest go first when full).
pub const MAX_THROTTLE_ENTRIES: usize = 65_536;

/// A fresh random token: 32 bytes as 64 hex digits.
pub fn random_token() -> String {
    let b: [u8; 32] = rand::random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equal without an early exit (a CSRF token or cookie compared with the expected one).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: path `/portal/`, HttpOnly, SameSite=Strict, `Secure` over TLS;
/// `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/portal/; Max-Age={}; HttpOnly; SameSite=Strict{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// A message shown once on the next page (after a redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    /// The change was stored.
    Ok(String),
    /// The change was refused; the message says why.
    Err(String),
}

/// One logged-in user.
#[derive(Debug)]
pub struct WebSession {
    /// Who.
    pub nai: Nai,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When it logged in.
    pub since: Instant,
    /// When it ends unless used.
    pub expires: Instant,
    /// The message for the next page, about this profile.
    pub flash: Option<(u32, Flash)>,
}

/// The sessions, by the SHA-256 of their cookie (the cookie itself is not kept).
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<[u8; 32], WebSession>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What [`Sessions::get`] found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The user.
    pub nai: Nai,
    /// Its CSRF token.
    pub csrf: String,
    /// The message to show now, about this profile (taken: shown once).
    pub flash: Option<(u32, Flash)>,
}

impl Sessions {
    /// Starts a session for `nai`; returns its cookie value, or None when
    /// [`MAX_SESSIONS`] are open.
    pub fn create(&mut self, nai: Nai, idle: Duration, now: Instant) -> Option<String> {
        self.sweep(now);
        if self.map.len() >= MAX_SESSIONS {
            return None;
        }
        let token = random_token();
        self.map.insert(
            key(&token),
            WebSession {
                nai,
                csrf: random_token(),
                since: now,
                expires: now + idle,
                flash: None,
            },
        );
        Some(token)
    }

    /// The session of cookie `token`, its idle time started again; None when unknown or
    /// expired (an expired one is removed).
    pub fn get(&mut self, token: &str, idle: Duration, now: Instant) -> Option<Found> {
        let k = key(token);
        let s = self.map.get_mut(&k)?;
        if now >= s.expires || now.duration_since(s.since) >= MAX_SESSION_AGE {
            self.map.remove(&k);
            return None;
        }
        s.expires = now + idle;
        Some(Found {
            nai: s.nai.clone(),
            csrf: s.csrf.clone(),
            flash: s.flash.take(),
        })
    }

    /// Sets the message the session's next page shows (in profile `profile`'s section).
    pub fn flash(&mut self, token: &str, profile: u32, f: Flash) {
        if let Some(s) = self.map.get_mut(&key(token)) {
            s.flash = Some((profile, f));
        }
    }

    /// Ends a session (logout).
    pub fn remove(&mut self, token: &str) -> bool {
        self.map.remove(&key(token)).is_some()
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn sweep(&mut self, now: Instant) {
        self.map
            .retain(|_, s| now < s.expires && now.duration_since(s.since) < MAX_SESSION_AGE);
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed logins per NAI and per source address.
#[derive(Debug, Default)]
pub struct Throttle {
    nai: HashMap<String, Failures>,
    source: HashMap<IpAddr, Failures>,
}

/// Why a login is not tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    /// Too many failures for this NAI; the lock ends in this long.
    Nai(Duration),
    /// Too many failures from this address.
    Source(Duration),
}

impl Locked {
    /// Time left.
    pub fn left(self) -> Duration {
        match self {
            Locked::Nai(d) | Locked::Source(d) => d,
        }
    }
}

/// The throttle's key of a NAI as typed (also for text that is not a valid NAI).
pub fn nai_key(typed: &str) -> String {
    typed.trim().to_lowercase().chars().take(253).collect()
}

/// The throttle's key of a source address: an IPv4 address as it is (also when mapped into
/// IPv6), an IPv6 address by its /64 (one host usually holds a whole /64, and could otherwise
/// guess from a new address each time).
pub fn source_key(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

fn locked_for(f: Option<&Failures>, limit: u32, now: Instant) -> Option<Duration> {
    let f = f?;
    let since = now.duration_since(f.last);
    (f.count >= limit && since < LOCK).then(|| LOCK - since)
}

fn bump<K: std::hash::Hash + Eq + Clone>(m: &mut HashMap<K, Failures>, k: &K, now: Instant) {
    if !m.contains_key(k) && m.len() >= MAX_THROTTLE_ENTRIES {
        m.retain(|_, f| now.duration_since(f.last) < LOCK);
        if m.len() >= MAX_THROTTLE_ENTRIES {
            // Still full of live entries: forget the one failed longest ago.
            if let Some(old) = m.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone()) {
                m.remove(&old);
            }
        }
    }
    let f = m.entry(k.clone()).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.duration_since(f.last) >= LOCK {
        f.count = 0;
    }
    f.count = f.count.saturating_add(1);
    f.last = now;
}

impl Throttle {
    /// Whether a login for `nai_key` from `source` is refused without trying the password.
    pub fn check(&self, nai_key: &str, source: Option<IpAddr>, now: Instant) -> Option<Locked> {
        if let Some(d) = locked_for(self.nai.get(nai_key), NAI_FAILURES, now) {
            return Some(Locked::Nai(d));
        }
        let s = source.and_then(|a| self.source.get(&source_key(a)));
        locked_for(s, SOURCE_FAILURES, now).map(Locked::Source)
    }

    /// Counts a failed login.
    pub fn failed(&mut self, nai_key: &str, source: Option<IpAddr>, now: Instant) {
        bump(&mut self.nai, &nai_key.to_string(), now);
        if let Some(a) = source {
            bump(&mut self.source, &source_key(a), now);
        }
    }

    /// A successful login clears the NAI's failures (not the address's: one user's success
    /// does not pardon guesses at others from the same place).
    pub fn succeeded(&mut self, nai_key: &str) {
        self.nai.remove(nai_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_parsed_and_set_strictly() {
        let h = "a=1; portal_session=abc ; portal_login=x=y";
        assert_eq!(cookie(h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(h, LOGIN_COOKIE), Some("x=y"));
        assert_eq!(cookie(h, "b"), None);
        let c = set_cookie(SESSION_COOKIE, "t", Duration::from_secs(60), true);
        assert_eq!(
            c,
            "portal_session=t; Path=/portal/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "t", Duration::ZERO, false).contains("Secure"));
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "ab"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 64);
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_age() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(60);
        let mut s = Sessions::default();
        let nai = Nai::parse("alice@isp.example").unwrap();
        let tok = s.create(nai.clone(), idle, t0).unwrap();
        assert!(s.get("nope", idle, t0).is_none());
        // Each use starts the idle time again.
        for i in 1..=5 {
            let f = s.get(&tok, idle, t0 + Duration::from_secs(50 * i)).unwrap();
            assert_eq!(f.nai, nai);
        }
        s.flash(&tok, 1, Flash::Ok("done".into()));
        let at = t0 + Duration::from_secs(260);
        assert_eq!(
            s.get(&tok, idle, at).unwrap().flash,
            Some((1, Flash::Ok("done".into())))
        );
        assert_eq!(s.get(&tok, idle, at).unwrap().flash, None, "shown twice");
        assert!(s.get(&tok, idle, at + idle).is_none(), "idle session kept");
        assert!(s.is_empty());
        // The absolute age.
        let tok = s.create(nai.clone(), idle, t0).unwrap();
        let mut t = t0;
        while t.duration_since(t0) + Duration::from_secs(30) < MAX_SESSION_AGE {
            t += Duration::from_secs(30);
            assert!(s.get(&tok, idle, t).is_some());
        }
        assert!(s.get(&tok, idle, t0 + MAX_SESSION_AGE).is_none());
        // Logout.
        let tok = s.create(nai, idle, t0).unwrap();
        assert!(s.remove(&tok));
        assert!(s.get(&tok, idle, t0).is_none());
    }

    #[test]
    fn the_throttle_locks_a_nai_and_a_source_and_forgets_after_the_lock() {
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let mut t = Throttle::default();
        let k = nai_key(" Alice@ISP.example ");
        assert_eq!(k, "alice@isp.example");
        for i in 0..NAI_FAILURES {
            assert_eq!(t.check(&k, Some(a), t0), None, "locked after {i}");
            t.failed(&k, Some(a), t0);
        }
        assert_eq!(t.check(&k, Some(b), t0), Some(Locked::Nai(LOCK)));
        // Another user from the same address is not locked (yet).
        assert_eq!(t.check("bob@isp.example", Some(a), t0), None);
        let later = t0 + LOCK;
        assert_eq!(t.check(&k, Some(a), later), None);
        // Failures older than the lock start a new count.
        t.failed(&k, Some(a), later);
        assert_eq!(t.check(&k, None, later), None);
        // The source: many users guessed from one address.
        for i in 0..SOURCE_FAILURES {
            t.failed(&format!("u{i}@isp.example"), Some(b), t0);
        }
        match t.check("new@isp.example", Some(b), t0 + Duration::from_secs(60)) {
            Some(Locked::Source(d)) => assert_eq!(d, LOCK - Duration::from_secs(60)),
            other => panic!("{other:?}"),
        }
        // An IPv6 host is its /64; a v4-mapped address is the IPv4 one.
        let v6 = |s: &str| -> Option<IpAddr> { Some(s.parse().unwrap()) };
        let mut t = Throttle::default();
        for i in 0..SOURCE_FAILURES {
            t.failed(
                &format!("u{i}@isp.example"),
                v6(&format!("2001:db8:1:2::{i:x}")),
                t0,
            );
        }
        assert!(t
            .check("x@isp.example", v6("2001:db8:1:2:ffff::1"), t0)
            .is_some());
        assert!(t
            .check("x@isp.example", v6("2001:db8:1:3::1"), t0)
            .is_none());
        assert_eq!(
            source_key("::ffff:192.0.2.9".parse().unwrap()),
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
        // Success clears the NAI's count only.
        let mut t = Throttle::default();
        for _ in 0..NAI_FAILURES - 1 {
            t.failed(&k, Some(a), t0);
        }
        t.succeeded(&k);
        t.failed(&k, Some(a), t0);
        assert_eq!(t.check(&k, Some(a), t0), None);
    }
}
