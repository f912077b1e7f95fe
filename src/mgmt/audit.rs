//! The audit log: one JSON line per changing request (and per refused authentication):
//! time, principal, method, path, request body, result code.
//!
//! Records go to the profile's `management.audit_log` file (appended, JSON lines) or, without
//! one, one line each on stderr; the last [`RING`] are kept in memory for
//! `GET /api/v1/audit`. Values of keys that hold secrets (`secret`, `password`, `key`,
//! `token`, `token_hash`) are replaced by `"***"` before anything is written.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

/// Records kept in memory.
pub const RING: usize = 10_000;

/// Keys whose values are never written.
const SECRET_KEYS: &[&str] = &["secret", "password", "key", "token", "token_hash"];

/// One audited request.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Record {
    /// UTC time, RFC 3339 with milliseconds.
    pub time: String,
    /// Principal name (`-` when authentication failed).
    pub principal: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Request body (JSON, secrets masked), or null.
    #[schema(value_type = Object)]
    pub body: Value,
    /// HTTP status of the answer.
    pub status: u16,
}

struct Inner {
    file: Option<PathBuf>,
    ring: VecDeque<Record>,
    write_errors: u64,
}

/// The audit log (shared by the API thread, which records, and the control thread, which
/// changes the file when the profile does).
pub struct Audit {
    inner: Mutex<Inner>,
}

impl Audit {
    /// Writing to `file` (none: stderr).
    pub fn new(file: Option<PathBuf>) -> Self {
        Audit {
            inner: Mutex::new(Inner {
                file,
                ring: VecDeque::new(),
                write_errors: 0,
            }),
        }
    }

    /// Changes the file (a reload or transaction changed `management.audit_log`).
    pub fn set_file(&self, file: Option<PathBuf>) {
        if let Ok(mut i) = self.inner.lock() {
            i.file = file;
        }
    }

    /// Records one request.
    pub fn record(&self, principal: &str, method: &str, path: &str, body: &[u8], status: u16) {
        let mut body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        mask(&mut body);
        let r = Record {
            time: rfc3339(SystemTime::now()),
            principal: principal.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            body,
            status,
        };
        let line = serde_json::to_string(&r).unwrap_or_default();
        let Ok(mut i) = self.inner.lock() else {
            return;
        };
        match i.file.clone() {
            Some(f) => {
                let ok = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&f)
                    .and_then(|mut h| writeln!(h, "{line}"));
                if let Err(e) = ok {
                    i.write_errors += 1;
                    eprintln!("varouter: audit log {}: {e}; record: {line}", f.display());
                }
            }
            None => eprintln!("varouter: audit: {line}"),
        }
        if i.ring.len() == RING {
            i.ring.pop_front();
        }
        i.ring.push_back(r);
    }

    /// The last `n` records, oldest first.
    pub fn last(&self, n: usize) -> Vec<Record> {
        self.inner.lock().map_or_else(
            |_| Vec::new(),
            |i| {
                let skip = i.ring.len().saturating_sub(n);
                i.ring.iter().skip(skip).cloned().collect()
            },
        )
    }

    /// Records that could not be written to the file.
    pub fn write_errors(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.write_errors)
    }
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && !x.is_null() {
                    *x = Value::String("***".into());
                } else {
                    mask(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_utc_civil_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn secrets_are_masked_and_the_ring_keeps_the_last() {
        let a = Audit::new(None);
        a.record(
            "admin",
            "POST",
            "/x",
            br#"{"l2tp":{"secret":"s3","hostname":"h"}}"#,
            200,
        );
        a.record("admin", "DELETE", "/y", b"", 204);
        let l = a.last(1);
        assert_eq!((l.len(), l[0].path.as_str()), (1, "/y"));
        let l = a.last(5);
        assert_eq!(l[0].body["l2tp"]["secret"], "***");
        assert_eq!(l[0].body["l2tp"]["hostname"], "h");
    }
}
