//! Human-readable output of `varouter ctl`: aligned tables built from the API's JSON.
//!
//! The API's lists are arrays of objects. A table takes the columns a command prefers, in
//! its order, and then any other scalar field the server sent (so a field the server adds
//! later is still shown, never silently dropped). Numbers are right-aligned, text
//! left-aligned; a missing field is `-`. Arrays of scalars are joined with commas, objects of
//! scalars read `key=value,...` (drops by name), deeper objects and arrays of objects are
//! summarised (`{3}`, `[2]`) — `--json` shows them whole.

use serde_json::Value;
use std::fmt::Write as _;

/// An aligned text table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column headings.
    pub headers: Vec<String>,
    /// Cells, one row per entry, as many cells as headings.
    pub rows: Vec<Vec<String>>,
    /// Per column: right-align (numbers).
    pub right: Vec<bool>,
}

impl Table {
    /// A table with these headings and no rows.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; headers.len()],
        }
    }

    /// Appends a row (cells beyond the headings are ignored, missing cells are `-`).
    pub fn push(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), "-".to_string());
        self.rows.push(cells);
    }

    /// A table from an array of objects: the `preferred` columns that occur in any row, in
    /// that order, then every other field in the order the rows first show it. Columns
    /// whose cells are all numbers are right-aligned.
    pub fn from_objects(rows: &[Value], preferred: &[&str]) -> Table {
        let mut cols: Vec<String> = preferred
            .iter()
            .filter(|c| rows.iter().any(|r| r.get(**c).is_some()))
            .map(|c| c.to_string())
            .collect();
        for r in rows {
            if let Value::Object(m) = r {
                for k in m.keys() {
                    if !cols.iter().any(|c| c == k) {
                        cols.push(k.clone());
                    }
                }
            }
        }
        if cols.is_empty() && !rows.is_empty() {
            // An array of scalars: one column.
            let mut t = Table::new(&["value"]);
            for r in rows {
                t.push(vec![cell(r)]);
            }
            return t;
        }
        let headers: Vec<&str> = cols.iter().map(String::as_str).collect();
        let mut t = Table::new(&headers);
        for (i, c) in cols.iter().enumerate() {
            t.right[i] = rows.iter().all(|r| match r.get(c) {
                Some(v) => v.is_number() || v.is_null(),
                None => true,
            }) && rows.iter().any(|r| r.get(c).is_some_and(Value::is_number));
        }
        for r in rows {
            t.push(
                cols.iter()
                    .map(|c| r.get(c).map_or_else(|| "-".to_string(), cell))
                    .collect(),
            );
        }
        t
    }

    /// The table as text: headings, then rows, columns two spaces apart, no trailing blanks.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut width = vec![0usize; n];
        for row in std::iter::once(&self.headers).chain(self.rows.iter()) {
            for (i, c) in row.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut o = String::new();
        for row in std::iter::once(&self.headers).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate().take(n) {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = width[i] - c.chars().count();
                if self.right[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                }
            }
            let _ = writeln!(o, "{}", line.trim_end());
        }
        o
    }
}

/// One JSON value as a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            if a.is_empty() {
                "-".into()
            } else {
                a.iter().map(cell).collect::<Vec<_>>().join(",")
            }
        }
        Value::Array(a) => format!("[{}]", a.len()),
        Value::Object(m) if m.is_empty() => "-".into(),
        Value::Object(m) if m.values().all(|x| !x.is_object() && !x.is_array()) => m
            .iter()
            .map(|(k, x)| format!("{k}={}", cell(x)))
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(m) => format!("{{{}}}", m.len()),
    }
}

/// Column order for the nested lists a VR document holds (JSON objects carry no order).
fn preferred(key: &str) -> &'static [&'static str] {
    match key {
        "interfaces" => &["port", "vlan", "addresses"],
        "routes" => &["prefix", "via", "push", "blackhole", "esp"],
        "neighbors" => &["port", "vlan", "ip", "mac"],
        "label_matrix" | "labels" => &["label", "action", "out_label", "port", "via", "vr"],
        _ => &["name", "id"],
    }
}

/// A single object as `key  value` lines, scalars first; nested arrays of objects follow
/// as their own titled tables (an interface list, a route list).
pub fn render_object(v: &Value) -> String {
    let Value::Object(m) = v else {
        return format!("{}\n", cell(v));
    };
    let mut kv = Table::new(&["", ""]);
    let mut nested = String::new();
    for (k, val) in m {
        match val {
            Value::Array(a) if a.iter().any(Value::is_object) => {
                let _ = write!(nested, "\n{k}:\n");
                for line in Table::from_objects(a, preferred(k)).render().lines() {
                    let _ = writeln!(nested, "  {line}");
                }
            }
            Value::Object(inner) if inner.values().any(|x| x.is_object() || x.is_array()) => {
                let _ = write!(nested, "\n{k}:\n");
                for line in render_object(val).lines() {
                    if line.is_empty() {
                        nested.push('\n');
                    } else {
                        let _ = writeln!(nested, "  {line}");
                    }
                }
            }
            other => kv.push(vec![k.clone(), cell(other)]),
        }
    }
    // The key/value part has no heading line: it reads as a form.
    let body: String = kv
        .render()
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    if body.is_empty() {
        // Only nested sections: no blank line before the first.
        return nested.trim_start_matches('\n').to_string();
    }
    body + &nested
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_aligned_and_numbers_right_aligned() {
        let rows = [
            json!({"name": "A", "id": 1, "tenant": "customer-a", "rx": 1234567}),
            json!({"name": "long-name", "id": 22, "tenant": "b", "rx": 5}),
        ];
        let t = Table::from_objects(&rows, &["name", "id", "tenant", "rx"]);
        assert_eq!(
            t.render(),
            "name       id  tenant           rx\n\
             A           1  customer-a  1234567\n\
             long-name  22  b                 5\n"
        );
    }

    #[test]
    fn preferred_columns_first_then_the_rest_and_missing_cells_dashed() {
        let rows = [
            json!({"b": 1, "z": [1, 2], "a": "x"}),
            json!({"a": "y", "extra": {"k": 1}}),
        ];
        let t = Table::from_objects(&rows, &["a", "nope"]);
        assert_eq!(t.headers, ["a", "b", "z", "extra"]);
        assert_eq!(t.rows[0], ["x", "1", "1,2", "-"]);
        assert_eq!(t.rows[1], ["y", "-", "-", "k=1"]);
    }

    #[test]
    fn an_object_renders_as_a_form_with_nested_tables() {
        let v = json!({"name": "A", "id": 1,
            "interfaces": [{"port": "access0", "vlan": 10, "addresses": ["10.255.0.1/30"]}]});
        let s = render_object(&v);
        // Fields in the order the server sent them (serde_json keeps it: preserve_order).
        assert!(s.starts_with("name  A\nid    1\n"), "{s}");
        assert!(
            s.contains("interfaces:\n  port     vlan  addresses\n  access0    10  10.255.0.1/30\n"),
            "{s}"
        );
    }

    #[test]
    fn an_object_of_sections_starts_with_its_first_section() {
        let v = json!({"vr": {"name": "C", "routes": [{"prefix": "10.1.0.0/16"}]}, "counters": {"rx": 1, "per_worker": [{"rx": 1}]}});
        let s = render_object(&v);
        assert!(
            s.starts_with("vr:\n  name  C\n\n  routes:\n    prefix\n    10.1.0.0/16\n"),
            "{s}"
        );
        assert!(
            s.ends_with("\ncounters:\n  rx  1\n\n  per_worker:\n    rx\n     1\n"),
            "{s}"
        );
    }

    #[test]
    fn scalars_as_cells() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!(true)), "yes");
        assert_eq!(cell(&json!([])), "-");
        assert_eq!(cell(&json!([{"a": 1}])), "[1]");
        assert_eq!(cell(&json!({"no_route": 3, "ttl": 1})), "no_route=3,ttl=1");
        assert_eq!(cell(&json!({"a": {"b": 1}})), "{1}");
        assert_eq!(cell(&json!({})), "-");
    }
}
