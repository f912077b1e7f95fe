//! The HTTP side of `varouter ctl`: one keep-alive connection to the management API, a
//! bearer token on every request, and the API's JSON errors turned into [`CtlError`]s.
//!
//! The client is [ureq](https://docs.rs/ureq) 3 with rustls and the *ring* crypto provider
//! (the provider the API server and the ESP code already use; no aws-lc-rs and no C
//! toolchain for it). A self-signed API certificate is trusted with `--ca FILE`; without it
//! the usual web PKI roots apply.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// How long a request may take end to end before the API counts as unreachable. The API
/// itself answers 503 after 5 s when the control loop is stuck; this is a bit longer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A failed `ctl` command: what went wrong and the process exit code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlError {
    /// The API answered with an error status and (normally) its JSON error body.
    Api {
        /// HTTP status.
        status: u16,
        /// Machine-readable code (`not_found`, `invalid_change`, ...).
        code: String,
        /// Human-readable message.
        message: String,
        /// JSON pointer into the request, when the error is about one of its fields.
        pointer: Option<String>,
        /// JSON pointer into the running profile, when the checker refused a change.
        profile_pointer: Option<String>,
    },
    /// No answer: connection refused, name not found, TLS failure, timeout.
    Unreachable(String),
    /// A problem on this side: unreadable file, bad argument, unexpected answer.
    Local(String),
}

impl CtlError {
    /// The exit code: 2 for a refused request (4xx), 3 when the API cannot be reached,
    /// 1 for everything else (5xx, local problems).
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Api { status, .. } if (400..500).contains(status) => 2,
            CtlError::Unreachable(_) => 3,
            _ => 1,
        }
    }

    /// Builds the error for a non-2xx answer from its status and body (the API's
    /// `{"error": {...}}`; anything else is shown as it came).
    pub fn from_answer(status: u16, body: &str) -> CtlError {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let e = parsed.as_ref().and_then(|v| v.get("error"));
        let s = |k: &str| e.and_then(|e| e.get(k)).and_then(Value::as_str);
        CtlError::Api {
            status,
            code: s("code").unwrap_or("http_error").to_string(),
            message: s("message")
                .map(str::to_string)
                .unwrap_or_else(|| body.trim().chars().take(500).collect()),
            pointer: s("pointer").map(str::to_string),
            profile_pointer: s("profile_pointer").map(str::to_string),
        }
    }
}

impl CtlError {
    /// The API's error as JSON (`{"error": {"status", "code", "message", "pointer"?,
    /// "profile_pointer"?}}`); `None` for errors that are not the API's.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        let CtlError::Api {
            status,
            code,
            message,
            pointer,
            profile_pointer,
        } = self
        else {
            return None;
        };
        let mut e = serde_json::Map::new();
        e.insert("status".into(), (*status).into());
        e.insert("code".into(), code.as_str().into());
        e.insert("message".into(), message.as_str().into());
        if let Some(p) = pointer {
            e.insert("pointer".into(), p.as_str().into());
        }
        if let Some(p) = profile_pointer {
            e.insert("profile_pointer".into(), p.as_str().into());
        }
        Some(serde_json::json!({ "error": e }))
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Api {
                status,
                code,
                message,
                pointer,
                profile_pointer,
            } => {
                write!(f, "{status} {code}: {message}")?;
                if let Some(p) = pointer {
                    write!(f, " (at {p})")?;
                }
                if let Some(p) = profile_pointer {
                    write!(f, " (profile {p})")?;
                }
                Ok(())
            }
            CtlError::Unreachable(m) => write!(f, "API unreachable: {m}"),
            CtlError::Local(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CtlError {}

/// HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status (2xx).
    pub status: u16,
    /// `Content-Type` of the answer, if any.
    pub content_type: Option<String>,
    /// The body as text (JSON, YAML or empty).
    pub body: String,
}

impl Answer {
    /// The body as JSON; an empty body (204) is `null`.
    pub fn json(&self) -> Result<Value, CtlError> {
        if self.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&self.body)
            .map_err(|e| CtlError::Local(format!("the API answered with invalid JSON: {e}")))
    }
}

/// A connection to the management API.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    auth: Option<String>,
}

impl Client {
    /// A client for the API at `base` (`http://127.0.0.1:8443`, `https://edge1:8443`),
    /// authenticating with `token` when given, trusting the PEM certificate(s) in `ca`
    /// (for a self-signed API certificate) instead of the web PKI when given.
    pub fn new(base: &str, token: Option<&str>, ca: Option<&Path>) -> Result<Client, CtlError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CtlError::Local(format!(
                "API address {base:?} must start with http:// or https://"
            )));
        }
        let mut tls = TlsConfig::builder();
        if let Some(ca) = ca {
            let pem =
                std::fs::read(ca).map_err(|e| CtlError::Local(format!("{}: {e}", ca.display())))?;
            let certs =
                read_certs(&pem).map_err(|e| CtlError::Local(format!("{}: {e}", ca.display())))?;
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .tls_config(tls.build())
            .user_agent(concat!("varouter-ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(Client {
            agent,
            base,
            auth: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The API's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; `path` starts with `/` (already percent-encoded where needed).
    /// A 2xx answer is returned, anything else becomes a [`CtlError`].
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, CtlError> {
        let url = format!("{}{}", self.base, path);
        let builder = http_request(method, &url, self.auth.as_deref());
        let sent = match body {
            Some(b) => {
                let text = serde_json::to_string(b)
                    .map_err(|e| CtlError::Local(format!("cannot encode the request: {e}")))?;
                let req = builder
                    .header("content-type", "application/json")
                    .body(text)
                    .map_err(|e| CtlError::Local(format!("bad request {url}: {e}")))?;
                self.agent.run(req)
            }
            None => {
                let req = builder
                    .body(())
                    .map_err(|e| CtlError::Local(format!("bad request {url}: {e}")))?;
                self.agent.run(req)
            }
        };
        let mut resp = sent.map_err(|e| transport_error(&url, e))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| transport_error(&url, e))?;
        if (200..300).contains(&status) {
            Ok(Answer {
                status,
                content_type,
                body: text,
            })
        } else {
            Err(CtlError::from_answer(status, &text))
        }
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, CtlError> {
        self.request(Method::Get, path, None)?.json()
    }

    /// Sends `body` (or nothing) with `method` and returns the JSON answer (`null` if empty).
    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CtlError> {
        self.request(method, path, body)?.json()
    }
}

fn http_request(method: Method, url: &str, auth: Option<&str>) -> ureq::http::request::Builder {
    let mut b = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(url)
        .header("accept", "application/json");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b
}

/// Reads every certificate of a PEM file (other PEM items, e.g. a key, are ignored).
fn read_certs(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| e.to_string())? {
            ureq::tls::PemItem::Certificate(c) => out.push(c),
            _ => continue,
        }
    }
    if out.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(out)
}

fn transport_error(url: &str, e: ureq::Error) -> CtlError {
    match e {
        ureq::Error::BadUri(m) => CtlError::Local(format!("bad API address {url}: {m}")),
        other => CtlError::Unreachable(format!("{url}: {other}")),
    }
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters stay as they are), so
/// that `10.0.0.0/8` becomes `10.0.0.0%2F8` and `fd00::/16` becomes `fd00%3A%3A%2F16`.
pub fn segment(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("10.0.0.0/8"), "10.0.0.0%2F8");
        assert_eq!(segment("fd00::/16"), "fd00%3A%3A%2F16");
        assert_eq!(segment("vr a"), "vr%20a");
        assert_eq!(segment("A-1_x.~"), "A-1_x.~");
    }

    #[test]
    fn api_errors_carry_code_message_and_pointers() {
        let e = CtlError::from_answer(
            422,
            r#"{"error":{"code":"invalid_change","message":"next hop not on-link",
                "pointer":"/changes/0/route/via","profile_pointer":"/virtual_routers/1/routes/0/via"}}"#,
        );
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "422 invalid_change: next hop not on-link (at /changes/0/route/via) \
             (profile /virtual_routers/1/routes/0/via)"
        );
        assert_eq!(
            e.to_json().unwrap()["error"]["pointer"],
            "/changes/0/route/via"
        );
        let e = CtlError::from_answer(502, "<html>bad gateway</html>");
        assert_eq!(e.exit_code(), 1);
        assert!(e
            .to_string()
            .contains("http_error: <html>bad gateway</html>"));
        assert_eq!(CtlError::Unreachable("x".into()).exit_code(), 3);
    }

    #[test]
    fn an_address_without_scheme_is_refused() {
        assert!(matches!(
            Client::new("127.0.0.1:1", None, None),
            Err(CtlError::Local(_))
        ));
    }

    #[test]
    fn nobody_listening_is_unreachable() {
        // A port of the ctl tests' range (18130-18139) that nothing ever listens on.
        let c = Client::new("http://127.0.0.1:18139", Some("t"), None).unwrap();
        let e = c.get("/api/v1/vrs").unwrap_err();
        assert_eq!(e.exit_code(), 3, "{e}");
    }
}
