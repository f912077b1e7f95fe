//! The dashboard (`GET /dashboard`): one self-contained HTML page, compiled into the binary.
//!
//! The page needs no authentication to load; it asks for an API token (kept in the tab's
//! `sessionStorage`), then calls `GET /api/v1/stats` with it every second and shows what
//! the answer holds: VRs (with packet rates from the deltas between two answers), ports,
//! workers and drops by reason when the principal may see them, tunnels, sessions and
//! uptime. A wrong token shows `401: bad token` and asks again. The API scopes the answer,
//! so a tenant's dashboard shows its VRs only; the page has no other source of data, and
//! its Content-Security-Policy forbids any (no external script, style, image or connection
//! to another origin).

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::server::ApiState;

/// The page (inline CSS and JavaScript, no external resources, no build step).
pub const PAGE: &str = include_str!("dashboard.html");

/// The `Content-Security-Policy` the page is served with: its own inline script and style,
/// requests to the API's origin only, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /dashboard` (merged into the public routes: the page itself holds no data).
pub fn routes() -> Router<Arc<ApiState>> {
    Router::new().route("/dashboard", get(page))
}

/// The page.
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "dashboard",
    description = "The dashboard page (no token needed to load it; it asks for one).",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained() {
        for external in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!PAGE.contains(external), "the page refers to {external}");
        }
        // Its one data source is the statistics endpoint, called with the token.
        assert_eq!(PAGE.matches("fetch(").count(), 1);
        assert!(PAGE.contains(r#"fetch("/api/v1/stats""#));
        assert!(PAGE.contains(r#""Authorization": "Bearer " + t"#));
        assert!(PAGE.contains("sessionStorage"));
        assert!(PAGE.contains("401: bad token"));
        // Values are set as text, never parsed as HTML (VR names come from profiles).
        assert!(!PAGE.contains("innerHTML"));
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'"));
    }
}
