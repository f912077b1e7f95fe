//! The users' web page of the mobile VPN (seed 003 Fig. 30, issue 16): under `/portal/` on
//! the management API's HTTP stack when the profile has `management.portal`.
//!
//! A user logs in with its NAI and password (argon2id hash in the VPN database's `vpn_login`
//! table, set with `varouter vpndb set-password`), sees its VPN profiles — destinations,
//! version, whether a service update is pending — and its current tunnels (`vpn_session`, as
//! the AAAH recorded them), and adds, removes or replaces destinations. A change goes through
//! the store with the user as owner: it raises the profile's version, sets its service-update
//! mark (the next registration with the service-update request re-reads it, Fig. 30 ②–④) and
//! leaves an audit record with actor `web:<nai>`.
//!
//! Security: the session cookie is 32 random bytes (kept hashed), `HttpOnly`,
//! `SameSite=Strict`, `Secure` over TLS, limited to `/portal/`, ended by the server after
//! `management.portal.idle_minutes` without a request and 12 h after the login. Every POST
//! carries a CSRF token (per session; the login form a double-submit cookie) and is refused
//! when an `Origin` header names another site. Failed logins are counted per NAI (5, then 15
//! minutes locked) and per source address (20); an unknown NAI costs the same argon2
//! verification as a known one and gets the same answer. Another user's profile number in a
//! URL or form answers exactly as a number no profile has (404). Pages have no script, no
//! external resource, and a Content-Security-Policy that allows none.
//!
//! | file | what |
//! |---|---|
//! | [`guard`] | sessions, the failed-login throttle, cookies, constant-time compare |
//! | [`page`] | the HTML |
//! | [`db`] | the database thread |

pub mod db;
pub mod guard;
pub mod page;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use vpndb::{AddrMask, Nai, StoreError, StoredProfile};

use self::db::{Db, DbError};
use self::guard::{Flash, Found, Locked};
use crate::config::PortalCfg;

/// Largest form body the page takes (a login or a change is a few hundred bytes).
pub const BODY_LIMIT: usize = 16 * 1024;
/// Most destinations one profile may have through the page.
pub const MAX_DESTINATIONS: usize = 64;
/// Longest password tried (longer ones fail without hashing).
pub const MAX_PASSWORD: usize = 1024;

/// The page's counters (in `/metrics` for the carrier).
#[derive(Debug, Default)]
pub struct Counters {
    /// Logins that succeeded.
    pub logins_ok: AtomicU64,
    /// Logins with a wrong NAI or password.
    pub logins_failed: AtomicU64,
    /// Logins refused by the throttle without trying the password.
    pub logins_throttled: AtomicU64,
    /// Logouts.
    pub logouts: AtomicU64,
    /// POSTs refused for a missing or wrong CSRF token or a foreign `Origin`.
    pub csrf_refused: AtomicU64,
    /// Destination changes stored.
    pub changes: AtomicU64,
    /// Destination changes refused (bad address or mask, duplicate, last one, ...).
    pub changes_refused: AtomicU64,
    /// Answers 404 (unknown or another user's profile).
    pub not_found: AtomicU64,
    /// Requests that failed because the database did not answer.
    pub db_errors: AtomicU64,
}

/// One counter family of [`Portal::metrics_text`]: name (without `varouter_` and `_total`),
/// help, and its samples (labels, value).
type Family = (&'static str, &'static str, Vec<(&'static str, u64)>);

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The page's state.
pub struct Portal {
    db: Db,
    secure: bool,
    idle: Duration,
    sessions: Mutex<guard::Sessions>,
    throttle: Mutex<guard::Throttle>,
    /// Verified instead when the NAI has no login, so that the answer takes as long.
    dummy_hash: String,
    /// The counters.
    pub counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves it consistent (single inserts/removes).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client's address (from the listener; `X-Forwarded-For` is not trusted).
struct Source(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<super::server::PeerAddr>>()
                .map(|c| c.0 .0.ip()),
        ))
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    nai: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    csrf: String,
    /// add, replace: the new destination's address (or `addr/len`).
    #[serde(default)]
    addr: String,
    /// add, replace: its mask (dotted or a prefix length; empty: one host).
    #[serde(default)]
    mask: String,
    /// remove: the destination.
    #[serde(default)]
    dest: String,
    /// replace: the destination replaced.
    #[serde(default)]
    old: String,
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(h);
    r
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null`
    // with form POSTs, and the Origin check would refuse the page's own forms.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(r.headers_mut());
    r
}

fn with_cookie(mut r: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| guard::cookie(h, name).map(str::to_owned))
}

/// A POST from a page of this origin: no `Origin` header (older clients), or one whose
/// host:port is the request's `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let authority = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, a)| a);
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// The routes under `/portal`, for the management API's router.
pub fn routes<S: Clone + Send + Sync + 'static>(p: Arc<Portal>) -> Router<S> {
    Router::new()
        .route("/portal", get(|| async { redirect("/portal/") }))
        .route("/portal/", get(index))
        .route("/portal/login", get(login_form).post(login))
        .route("/portal/logout", post(logout))
        .route("/portal/profiles/{n}", get(profile_page))
        .route("/portal/profiles/{n}/{op}", post(change))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(p)
}

impl Portal {
    /// Starts the page's database thread (`cfg.database`); `secure` when the API is served
    /// over TLS (cookies get `Secure`).
    pub fn start(cfg: &PortalCfg, secure: bool) -> Result<Arc<Portal>, String> {
        let db = Db::start(&cfg.database)?;
        Ok(Arc::new(Portal {
            db,
            secure,
            idle: cfg.idle,
            sessions: Mutex::new(guard::Sessions::default()),
            throttle: Mutex::new(guard::Throttle::default()),
            dummy_hash: super::auth::hash_token(&guard::random_token()),
            counters: Counters::default(),
        }))
    }

    /// The logged-in session of the request: its cookie value and what it holds.
    fn session(&self, headers: &HeaderMap) -> Option<(String, Found)> {
        let token = cookie_of(headers, guard::SESSION_COOKIE)?;
        let found = lock(&self.sessions).get(&token, self.idle, Instant::now())?;
        Some((token, found))
    }

    fn not_found(&self) -> Response {
        inc(&self.counters.not_found);
        html(
            StatusCode::NOT_FOUND,
            page::message(
                "Not found",
                "There is no such VPN profile.",
                Some(("/portal/", "Your VPNs")),
            ),
        )
    }

    fn csrf_refused(&self, what: &str) -> Response {
        inc(&self.counters.csrf_refused);
        tracing::warn!("portal: {what} refused: missing or wrong CSRF token, or foreign Origin");
        html(
            StatusCode::FORBIDDEN,
            page::message(
                "Form refused",
                "The form expired or did not come from this site. Reload the page and try again.",
                Some(("/portal/", "Back")),
            ),
        )
    }

    fn db_error(&self, e: DbError) -> Response {
        inc(&self.counters.db_errors);
        tracing::warn!("portal: {e}");
        html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::message(
                "Unavailable",
                "The VPN database is not available right now. Try again in a minute.",
                Some(("/portal/", "Reload")),
            ),
        )
    }

    fn bad_form(&self, e: FormRejection) -> Response {
        html(
            StatusCode::BAD_REQUEST,
            page::message(
                "Bad request",
                &format!("The form could not be read: {}", e.body_text()),
                Some(("/portal/", "Back")),
            ),
        )
    }

    fn login_page(&self, status: StatusCode, nai: &str, error: Option<&str>) -> Response {
        let nonce = guard::random_token();
        let r = html(status, page::login(&nonce, nai, error));
        with_cookie(
            r,
            guard::set_cookie(
                guard::LOGIN_COOKIE,
                &nonce,
                Duration::from_secs(3600),
                self.secure,
            ),
        )
    }

    /// The user's page: all its profiles, or only `only` (404 unless it is one of them).
    async fn show(&self, s: Found, only: Option<u32>) -> Response {
        let nai = s.nai.clone();
        let r = self
            .db
            .run(move |st| Ok((st.profiles_by_nai(&nai)?, st.sessions_of_nai(&nai)?)))
            .await;
        let (mut ps, tunnels) = match r {
            Ok(x) => x,
            Err(e) => return self.db_error(e),
        };
        if let Some(n) = only {
            ps.retain(|p| p.profile.profile_number == n);
            if ps.is_empty() {
                return self.not_found();
            }
        }
        html(
            StatusCode::OK,
            page::profiles(
                s.nai.as_str(),
                &s.csrf,
                &s.flash,
                &ps,
                &tunnels,
                only.is_some(),
            ),
        )
    }

    /// The page's counters in the Prometheus text format (or OpenMetrics).
    pub fn metrics_text(&self, openmetrics: bool) -> String {
        let c = &self.counters;
        let v = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let families: [Family; 6] = [
            (
                "portal_logins",
                "Logins to the users' web page, by result",
                vec![
                    ("result=\"ok\"", v(&c.logins_ok)),
                    ("result=\"failed\"", v(&c.logins_failed)),
                    ("result=\"throttled\"", v(&c.logins_throttled)),
                ],
            ),
            (
                "portal_logouts",
                "Logouts from the web page",
                vec![("", v(&c.logouts))],
            ),
            (
                "portal_changes",
                "Destination changes on the web page, by result",
                vec![
                    ("result=\"stored\"", v(&c.changes)),
                    ("result=\"refused\"", v(&c.changes_refused)),
                ],
            ),
            (
                "portal_csrf_refused",
                "Web page forms refused for a missing or wrong CSRF token or a foreign Origin",
                vec![("", v(&c.csrf_refused))],
            ),
            (
                "portal_not_found",
                "Web page answers 404 (unknown or another user's profile)",
                vec![("", v(&c.not_found))],
            ),
            (
                "portal_database_errors",
                "Web page requests that failed because the VPN database did not answer",
                vec![("", v(&c.db_errors))],
            ),
        ];
        let mut out = String::new();
        for (name, help, samples) in families {
            let family = if openmetrics {
                format!("varouter_{name}")
            } else {
                format!("varouter_{name}_total")
            };
            out.push_str(&format!(
                "# HELP {family} {help}.\n# TYPE {family} counter\n"
            ));
            for (labels, value) in samples {
                let labels = if labels.is_empty() {
                    String::new()
                } else {
                    format!("{{{labels}}}")
                };
                out.push_str(&format!("varouter_{name}_total{labels} {value}\n"));
            }
        }
        let n = lock(&self.sessions).len();
        out.push_str(&format!(
            "# HELP varouter_portal_sessions Users logged in to the web page.\n\
             # TYPE varouter_portal_sessions gauge\nvarouter_portal_sessions {n}\n"
        ));
        out
    }
}

async fn index(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    match p.session(&headers) {
        Some((_, s)) => p.show(s, None).await,
        None => redirect("/portal/login"),
    }
}

async fn profile_page(
    State(p): State<Arc<Portal>>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((_, s)) = p.session(&headers) else {
        return redirect("/portal/login");
    };
    match n.parse::<u32>() {
        Ok(n) => p.show(s, Some(n)).await,
        Err(_) => p.not_found(),
    }
}

async fn login_form(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    if p.session(&headers).is_some() {
        return redirect("/portal/");
    }
    p.login_page(StatusCode::OK, "", None)
}

async fn login(
    State(p): State<Arc<Portal>>,
    Source(source): Source,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let f = match form {
        Ok(Form(f)) => f,
        Err(e) => return p.bad_form(e),
    };
    let expected = cookie_of(&headers, guard::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !guard::ct_eq(&expected, &f.csrf) || !same_origin(&headers) {
        inc(&p.counters.csrf_refused);
        tracing::warn!("portal: login refused: missing or wrong CSRF token, or foreign Origin");
        return p.login_page(
            StatusCode::FORBIDDEN,
            &f.nai,
            Some("The login form expired. Enter your NAI and password again."),
        );
    }
    let key = guard::nai_key(&f.nai);
    let now = Instant::now();
    let locked = lock(&p.throttle).check(&key, source, now);
    if let Some(l) = locked {
        inc(&p.counters.logins_throttled);
        let mins = l.left().as_secs().div_ceil(60);
        let who = match l {
            Locked::Nai(_) => "for this NAI",
            Locked::Source(_) => "from your address",
        };
        tracing::warn!(
            "portal: login for {key:?} from {} throttled ({who})",
            source.map_or("?".into(), |s| s.to_string())
        );
        let mut r = p.login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &f.nai,
            Some(&format!(
                "Too many failed logins {who}. Try again in {mins} minute{}.",
                if mins == 1 { "" } else { "s" }
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&l.left().as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // The stored hash of a valid NAI (none: the dummy is verified, for the same time).
    let nai = Nai::parse(f.nai.trim()).ok();
    let stored = match &nai {
        Some(n) => {
            let n = n.clone();
            match p.db.run(move |st| st.password_hash(&n)).await {
                Ok(h) => h,
                Err(e) => return p.db_error(e),
            }
        }
        None => None,
    };
    let real = stored.is_some();
    let phc = stored.unwrap_or_else(|| p.dummy_hash.clone());
    let password = f.password;
    let ok = if password.is_empty() || password.len() > MAX_PASSWORD {
        false
    } else {
        // argon2 is slow on purpose: off the runtime's thread.
        tokio::task::spawn_blocking(move || super::auth::verify(&password, &phc))
            .await
            .unwrap_or(false)
    } && real;
    let src = source.map_or("?".into(), |s| s.to_string());
    let Some(nai) = nai.filter(|_| ok) else {
        lock(&p.throttle).failed(&key, source, Instant::now());
        inc(&p.counters.logins_failed);
        tracing::warn!("portal: failed login for {key:?} from {src}");
        return p.login_page(
            StatusCode::UNAUTHORIZED,
            &f.nai,
            Some("Wrong NAI or password."),
        );
    };
    lock(&p.throttle).succeeded(&key);
    let Some(token) = lock(&p.sessions).create(nai.clone(), p.idle, Instant::now()) else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::message(
                "Busy",
                "Too many users are logged in right now. Try again in a few minutes.",
                Some(("/portal/login", "Log in")),
            ),
        );
    };
    inc(&p.counters.logins_ok);
    tracing::info!("portal: {nai} logged in from {src}");
    // The browser keeps the cookie as long as the server could (the absolute age); the idle
    // time is enforced by the server, which refreshes it at each request.
    let r = with_cookie(
        redirect("/portal/"),
        guard::set_cookie(
            guard::SESSION_COOKIE,
            &token,
            guard::MAX_SESSION_AGE,
            p.secure,
        ),
    );
    with_cookie(
        r,
        guard::set_cookie(guard::LOGIN_COOKIE, "", Duration::ZERO, p.secure),
    )
}

async fn logout(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Some((token, s)) = p.session(&headers) else {
        return redirect("/portal/login");
    };
    let f = match form {
        Ok(Form(f)) => f,
        Err(e) => return p.bad_form(e),
    };
    if !guard::ct_eq(&s.csrf, &f.csrf) || !same_origin(&headers) {
        return p.csrf_refused("logout");
    }
    lock(&p.sessions).remove(&token);
    inc(&p.counters.logouts);
    tracing::info!("portal: {} logged out", s.nai);
    with_cookie(
        redirect("/portal/login"),
        guard::set_cookie(guard::SESSION_COOKIE, "", Duration::ZERO, p.secure),
    )
}

/// What a change form asks for.
enum Op {
    Add(AddrMask),
    Remove(AddrMask),
    Replace(AddrMask, AddrMask),
}

async fn change(
    State(p): State<Arc<Portal>>,
    Path((n, op)): Path<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<ChangeForm>, FormRejection>,
) -> Response {
    let Some((token, s)) = p.session(&headers) else {
        return redirect("/portal/login");
    };
    let f = match form {
        Ok(Form(f)) => f,
        Err(e) => return p.bad_form(e),
    };
    if !guard::ct_eq(&s.csrf, &f.csrf) || !same_origin(&headers) {
        return p.csrf_refused("change");
    }
    let Ok(n) = n.parse::<u32>() else {
        return p.not_found();
    };
    if !matches!(op.as_str(), "add" | "remove" | "replace") {
        return p.not_found();
    }
    // Only the user's own profiles: another's number answers as one that does not exist
    // (the store checks the owner again in the change's transaction).
    let owner = s.nai.clone();
    let mine: Option<StoredProfile> = match p
        .db
        .run(move |st| {
            Ok(st
                .profiles_by_nai(&owner)?
                .into_iter()
                .find(|x| x.profile.profile_number == n))
        })
        .await
    {
        Ok(x) => x,
        Err(e) => return p.db_error(e),
    };
    let Some(mine) = mine else {
        return p.not_found();
    };
    let back = format!("/portal/#profile-{n}");
    let refuse = |msg: String| {
        inc(&p.counters.changes_refused);
        lock(&p.sessions).flash(&token, n, Flash::Err(format!("VPN profile {n}: {msg}")));
        redirect(&back)
    };
    let parsed = match op.as_str() {
        "add" => parse_dest(&f.addr, &f.mask).and_then(|d| {
            check_dest(&d)?;
            if mine.profile.destinations.len() >= MAX_DESTINATIONS {
                return Err(format!(
                    "it has {MAX_DESTINATIONS} destinations, the most this page accepts; remove one first."
                ));
            }
            Ok(Op::Add(d))
        }),
        "remove" => listed(&f.dest).map(Op::Remove),
        _ => listed(&f.old).and_then(|old| {
            let new = parse_dest(&f.addr, &f.mask)?;
            check_dest(&new)?;
            Ok(Op::Replace(old, new))
        }),
    };
    let op = match parsed {
        Ok(op) => op,
        Err(m) => return refuse(m),
    };
    let user = s.nai.clone();
    let actor = format!("web:{}", s.nai);
    let r =
        p.db.run(move |st| {
            let o = Some(&user);
            match op {
                Op::Add(d) => st
                    .add_destination(&actor, n, o, d)
                    .map(|x| (x, format!("added {d}"))),
                Op::Remove(d) => st
                    .remove_destination(&actor, n, o, d)
                    .map(|x| (x, format!("removed {d}"))),
                Op::Replace(a, b) => st
                    .replace_destination(&actor, n, o, a, b)
                    .map(|x| (x, format!("replaced {a} by {b}"))),
            }
        })
        .await;
    match r {
        Ok((stored, what)) => {
            inc(&p.counters.changes);
            tracing::info!(
                "portal: {} changed profile {n}: {what} (version {})",
                s.nai,
                stored.version
            );
            lock(&p.sessions).flash(
                &token,
                n,
                Flash::Ok(format!(
                    "VPN profile {n}: {what}. Stored as version {}; your next registration \
                     (service update) applies it.",
                    stored.version
                )),
            );
            redirect(&back)
        }
        Err(DbError::Store(StoreError::NotFound(m))) if m == format!("profile {n}") => {
            p.not_found()
        }
        Err(DbError::Store(StoreError::NotFound(m))) => {
            refuse(format!("{m} is not listed (any more)."))
        }
        Err(DbError::Store(StoreError::Conflict(m))) => refuse(format!("{m}.")),
        Err(DbError::Store(StoreError::Model(m))) => refuse(m.to_string()),
        Err(e) => p.db_error(e),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A destination as listed on the page (the remove button's and the replace list's value).
fn listed(s: &str) -> Result<AddrMask, String> {
    s.trim()
        .parse::<AddrMask>()
        .map_err(|_| format!("\"{}\" is not one of its destinations.", clip(s)))
}

/// The address and mask a user typed, as a destination; the message says what is wrong and
/// what would be right. `addr` may carry the mask (`10.30.0.0/16`) when `mask` is empty; an
/// empty mask means one host.
pub fn parse_dest(addr: &str, mask: &str) -> Result<AddrMask, String> {
    let (addr, mask) = (addr.trim(), mask.trim());
    if addr.is_empty() {
        return Err("enter the destination's address, e.g. 10.30.0.0.".into());
    }
    let (a, m) = match addr.split_once('/') {
        Some((a, m)) if mask.is_empty() => (a.trim(), m.trim()),
        Some(_) => {
            return Err(format!(
                "give the mask either after the address (\"{}\") or in the mask field, not both.",
                clip(addr)
            ))
        }
        None => (addr, mask),
    };
    let ip: Ipv4Addr = a.parse().map_err(|_| {
        format!(
            "\"{}\" is not an IPv4 address: write four numbers from 0 to 255 separated by dots, e.g. 10.30.0.0.",
            clip(a)
        )
    })?;
    let m = m.strip_prefix('/').unwrap_or(m);
    let bad_mask = || {
        format!(
            "\"{}\" is not a net mask: write it dotted (e.g. 255.255.0.0) or as a prefix length from 0 to 32 (e.g. 16).",
            clip(m)
        )
    };
    let mask: Ipv4Addr = if m.is_empty() {
        Ipv4Addr::BROADCAST
    } else if m.contains('.') {
        m.parse().map_err(|_| bad_mask())?
    } else {
        let len: u32 = m.parse().ok().filter(|l| *l <= 32).ok_or_else(bad_mask)?;
        Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
    };
    let mu = u32::from(mask);
    if mu.leading_ones() + mu.trailing_zeros() != 32 {
        return Err(format!(
            "the mask {mask} is not contiguous: its one bits must all come first, e.g. 255.255.0.0 (/16) or 255.255.255.0 (/24)."
        ));
    }
    if u32::from(ip) & !mu != 0 {
        let net = Ipv4Addr::from(u32::from(ip) & mu);
        return Err(format!(
            "{ip} has host bits set outside the mask {mask}: that network is {net}/{}. Enter {net} as the address, or leave the mask empty for the single host {ip}.",
            mu.leading_ones()
        ));
    }
    AddrMask::new(ip, mask).map_err(|e| e.to_string())
}

/// Destinations the page refuses: everything (`/0`), and networks that overlap ranges that
/// cannot be a VPN's far end.
pub fn check_dest(d: &AddrMask) -> Result<(), String> {
    if d.prefix_len() == 0 {
        return Err(
            "0.0.0.0/0 would send all your traffic into this VPN; enter your destination's network."
                .into(),
        );
    }
    const RESERVED: [([u8; 4], u8, &str); 4] = [
        ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
        (
            [127, 0, 0, 0],
            8,
            "the loopback network of your own device (127.0.0.0/8)",
        ),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
    ];
    for (a, len, what) in RESERVED {
        let r = AddrMask::from_prefix(Ipv4Addr::from(a), len).map_err(|e| e.to_string())?;
        if r.covers(d) || d.covers(&r) {
            return Err(format!(
                "{d} overlaps {what}, which cannot be a VPN destination."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn am(s: &str) -> AddrMask {
        s.parse().unwrap()
    }

    #[test]
    fn typed_destinations_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_dest("10.30.0.0", "255.255.0.0").unwrap(),
            am("10.30.0.0/16")
        );
        assert_eq!(parse_dest(" 10.30.0.0 ", "16").unwrap(), am("10.30.0.0/16"));
        assert_eq!(parse_dest("10.30.0.0", "/16").unwrap(), am("10.30.0.0/16"));
        assert_eq!(parse_dest("10.30.0.0/24", "").unwrap(), am("10.30.0.0/24"));
        assert_eq!(parse_dest("10.30.0.7", "").unwrap(), am("10.30.0.7/32"));
        let cases = [
            ("", "", "enter the destination's address"),
            ("10.0.0.300", "", "\"10.0.0.300\" is not an IPv4 address"),
            ("intranet", "16", "not an IPv4 address"),
            ("10.30.0.0", "33", "\"33\" is not a net mask"),
            ("10.30.0.0", "255.255.0", "is not a net mask"),
            ("10.30.0.0", "255.0.255.0", "255.0.255.0 is not contiguous"),
            ("10.30.1.5", "255.255.0.0", "that network is 10.30.0.0/16"),
            ("10.30.0.0/16", "16", "not both"),
        ];
        for (a, m, want) in cases {
            let e = parse_dest(a, m).unwrap_err();
            assert!(e.contains(want), "{a:?} {m:?}: {e}");
        }
        assert!(check_dest(&am("10.30.0.0/16")).is_ok());
        for (d, want) in [
            ("0.0.0.0/0", "all your traffic"),
            ("127.0.0.1/32", "loopback"),
            ("64.0.0.0/2", "loopback"),
            ("239.1.1.1/32", "multicast"),
            ("255.255.255.255/32", "reserved"),
            ("0.1.2.3/32", "this network"),
        ] {
            let e = check_dest(&am(d)).unwrap_err();
            assert!(e.contains(want), "{d}: {e}");
        }
        assert!(listed("10.1.0.0/16").is_ok());
        assert!(listed("<b>")
            .unwrap_err()
            .contains("not one of its destinations"));
    }

    #[test]
    fn counters_render_in_both_exposition_formats() {
        let path =
            std::env::temp_dir().join(format!("portal-metrics-{}.sqlite", std::process::id()));
        let cfg = PortalCfg {
            database: format!("sqlite:{}", path.display()),
            idle: Duration::from_secs(60),
        };
        let p = Portal::start(&cfg, false).unwrap();
        inc(&p.counters.logins_ok);
        inc(&p.counters.logins_ok);
        inc(&p.counters.changes_refused);
        let text = p.metrics_text(false);
        assert!(text.contains("# TYPE varouter_portal_logins_total counter\n"));
        assert!(text.contains("varouter_portal_logins_total{result=\"ok\"} 2\n"));
        assert!(text.contains("varouter_portal_changes_total{result=\"refused\"} 1\n"));
        assert!(text.contains("varouter_portal_sessions 0\n"));
        let om = p.metrics_text(true);
        assert!(om.contains("# TYPE varouter_portal_logins counter\n"));
        assert!(om.contains("varouter_portal_logins_total{result=\"ok\"} 2\n"));
        assert!(!om.contains("# EOF"), "the caller places the EOF");
        drop(p);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn origins_of_other_sites_are_refused() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:18180"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:18180"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
