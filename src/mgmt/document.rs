//! The running profile as a JSON document.
//!
//! The API changes the profile, not the tables: a transaction edits a copy of the running
//! document ([`serde_json::Value`], loaded from the profile's YAML), which is then written
//! out as YAML by [`emit`] and parsed and checked by the same code as a profile file
//! ([`crate::parse_config`]). The emitter remembers, for every line it writes, the JSON
//! pointer of the value on that line, so a checker error at `file:line:col` maps back to
//! `/virtual_routers/2/routes/0/via` ([`Emitted::pointer_at`]). Saving the configuration
//! writes the same YAML, so a restart from the saved file comes back to the same document.

use std::path::Path;

use serde_json::Value;

use crate::config::Config;
use crate::profile::ProfileError;

/// YAML text and the JSON pointer of what each of its lines holds.
#[derive(Clone, Debug, Default)]
pub struct Emitted {
    /// The YAML.
    pub text: String,
    /// `lines[i]`: pointer of the value on line `i + 1`.
    pub lines: Vec<String>,
}

impl Emitted {
    /// The pointer of the value on 1-based `line` (the document root when unknown).
    pub fn pointer_at(&self, line: u64) -> String {
        line.checked_sub(1)
            .and_then(|i| self.lines.get(i as usize))
            .cloned()
            .unwrap_or_default()
    }
}

/// Reads a profile file into a document.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses profile YAML into a document.
pub fn parse(text: &str) -> Result<Value, String> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    if !v.is_object() {
        return Err("a profile is a mapping at the top level".into());
    }
    Ok(v)
}

/// Escapes one JSON-pointer token (RFC 6901).
pub fn token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Writes `v` (a mapping) as block YAML.
pub fn emit(v: &Value) -> Emitted {
    let mut e = Emitted::default();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(&mut e, m, 0, "", None),
        other => line(&mut e, 0, &scalar(other), String::new()),
    }
    e
}

fn line(e: &mut Emitted, indent: usize, s: &str, ptr: String) {
    for _ in 0..indent {
        e.text.push(' ');
    }
    e.text.push_str(s);
    e.text.push('\n');
    e.lines.push(ptr);
}

/// A scalar (or empty collection) in flow form. Strings are always double-quoted with JSON
/// escapes, which YAML reads the same way, so no string can turn into a number, a boolean
/// or null; numbers, booleans and null are written as JSON writes them.
fn scalar(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(m) if m.is_empty() => "{}".into(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "null".into()),
    }
}

/// Keys written without quotes: lowercase identifiers (every key a profile has).
fn plain_key(k: &str) -> bool {
    let mut c = k.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase() || f == '_')
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == '_')
        && !matches!(
            k,
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

/// `prefix`: text put before the first key (`- ` of a sequence item) at `indent - 2`.
fn emit_map(
    e: &mut Emitted,
    m: &serde_json::Map<String, Value>,
    indent: usize,
    base: &str,
    mut first_prefix: Option<(usize, &str)>,
) {
    for (k, v) in m {
        let ptr = format!("{base}/{}", token(k));
        let key = if plain_key(k) {
            k.clone()
        } else {
            serde_json::to_string(k).unwrap_or_default()
        };
        let (ind, pre) = match first_prefix.take() {
            Some((i, p)) => (i, p),
            None => (indent, ""),
        };
        if is_block(v) {
            line(e, ind, &format!("{pre}{key}:"), ptr.clone());
            match v {
                Value::Object(mm) => emit_map(e, mm, indent + 2, &ptr, None),
                Value::Array(a) => emit_seq(e, a, indent + 2, &ptr),
                _ => {}
            }
        } else {
            line(e, ind, &format!("{pre}{key}: {}", scalar(v)), ptr);
        }
    }
}

fn emit_seq(e: &mut Emitted, a: &[Value], indent: usize, base: &str) {
    for (i, v) in a.iter().enumerate() {
        let ptr = format!("{base}/{i}");
        match v {
            Value::Object(m) if !m.is_empty() => {
                emit_map(e, m, indent + 2, &ptr, Some((indent, "- ")));
            }
            Value::Array(aa) if !aa.is_empty() => {
                line(e, indent, "-", ptr.clone());
                emit_seq(e, aa, indent + 2, &ptr);
            }
            other => line(e, indent, &format!("- {}", scalar(other)), ptr),
        }
    }
}

/// A checker error mapped back into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocError {
    /// The checker's message (without the file position).
    pub message: String,
    /// Pointer of the offending value in the document.
    pub pointer: String,
    /// True for structural errors (unknown field, wrong type) found while parsing, false
    /// for the checker's semantic errors.
    pub structural: bool,
}

/// Emits `doc` and checks it as the profile at `path` (relative files resolve against
/// its directory). On success: the resolved configuration and the emitted YAML.
pub fn check(path: &Path, doc: &Value) -> Result<(Config, Emitted), Vec<DocError>> {
    let em = emit(doc);
    let map = |errs: Vec<ProfileError>, structural: bool| -> Vec<DocError> {
        errs.into_iter()
            .map(|e| DocError {
                pointer: em.pointer_at(e.line),
                message: e.message,
                structural,
            })
            .collect()
    };
    let p = crate::profile::parse(path, &em.text).map_err(|e| map(e, true))?;
    let cfg = crate::profile::check::check(path, &p).map_err(|e| map(e, false))?;
    Ok((cfg, em))
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a rename).
pub fn save(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile.yaml".into());
    let tmp = match dir {
        Some(d) => d.join(format!(".{name}.tmp{}", std::process::id())),
        None => std::path::PathBuf::from(format!(".{name}.tmp{}", std::process::id())),
    };
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
router_id: 192.0.2.1
ports:
  - { name: p0, backend: mem, mac: "02:00:00:00:00:01" }
  - name: p1
    backend: mem
    mac: 02:00:00:00:00:02
virtual_routers:
  - id: 1
    name: a
    vpn_id: 00a0c9:00000001
    tenant: t1
    interfaces:
      - { port: p0, addresses: [10.1.0.1/24] }
    routes:
      - { prefix: 10.9.0.0/16, via: 10.1.0.254 }
"#;

    #[test]
    fn emitted_yaml_reads_back_to_the_same_document() {
        let d = parse(PROFILE).unwrap();
        let em = emit(&d);
        assert_eq!(parse(&em.text).unwrap(), d, "{}", em.text);
        assert!(check(Path::new("x.yaml"), &d).is_ok());
        // Awkward strings survive.
        let mut d2 = d.clone();
        d2["virtual_routers"][0]["tenant"] = Value::String("yes: no # \"x\"\n".into());
        d2["virtual_routers"][0]["name"] = Value::String("123".into());
        assert_eq!(parse(&emit(&d2).text).unwrap(), d2);
    }

    #[test]
    fn checker_errors_point_into_the_document() {
        let mut d = parse(PROFILE).unwrap();
        d["virtual_routers"][0]["routes"][0]["via"] = Value::String("10.7.7.7".into());
        let errs = check(Path::new("x.yaml"), &d).unwrap_err();
        assert_eq!(
            errs[0].pointer, "/virtual_routers/0/routes/0/via",
            "{errs:?}"
        );
        assert!(!errs[0].structural);
        d["virtual_routers"][0]["routes"][0]["bogus"] = Value::Bool(true);
        let errs = check(Path::new("x.yaml"), &d).unwrap_err();
        assert!(errs[0].structural, "{errs:?}");
        assert!(errs[0].pointer.starts_with("/virtual_routers/0/routes/0"));
    }
}
