//! `docs/openapi.json` is the API's OpenAPI document as the code generates it (utoipa,
//! `varouter::mgmt::openapi`), the same document `GET /openapi.json` serves. This test fails
//! when the checked-in copy is stale; regenerate it with
//!
//! ```sh
//! UPDATE_OPENAPI=1 cargo test --test openapi
//! ```

use std::path::Path;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

/// The generated document in its checked-in form: pretty JSON, keys sorted, newline at end.
fn generated() -> String {
    let v = varouter::mgmt::openapi::document();
    serde_json::to_string_pretty(&v).expect("the document serializes") + "\n"
}

#[test]
fn the_checked_in_openapi_document_is_current() {
    let now = generated();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &now).expect("write docs/openapi.json");
        return;
    }
    let old = std::fs::read_to_string(Path::new(CHECKED_IN)).unwrap_or_else(|e| {
        panic!("{CHECKED_IN}: {e}; generate it with UPDATE_OPENAPI=1 cargo test --test openapi")
    });
    let old_v: serde_json::Value = serde_json::from_str(&old)
        .unwrap_or_else(|e| panic!("{CHECKED_IN} is not JSON ({e}); regenerate it"));
    let now_v = varouter::mgmt::openapi::document();
    assert!(
        old_v == now_v,
        "docs/openapi.json is stale: the API's types changed. Regenerate it with\n  \
         UPDATE_OPENAPI=1 cargo test --test openapi\nand commit it."
    );
    assert_eq!(
        old, now,
        "docs/openapi.json has the right content but not the generated layout; regenerate it"
    );
}

#[test]
fn the_document_describes_the_api() {
    let v = varouter::mgmt::openapi::document();
    assert!(
        v["openapi"].as_str().is_some_and(|s| s.starts_with("3.")),
        "not an OpenAPI 3 document: {v}"
    );
    let schemas = &v["components"]["schemas"];
    for s in ["Change", "Transaction", "ApiError"] {
        assert!(
            schemas.get(s).is_some(),
            "schema {s} missing from the document"
        );
    }
}
