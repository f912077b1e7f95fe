//! The OpenAPI document of the API (`GET /openapi.json`), generated with utoipa from the
//! request and error types.

use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "varouter management API", description = "See docs/api.md."),
    modifiers(&Bearer),
    paths(
        super::server::list_vrs,
        super::server::get_vr,
        super::server::create_vr,
        super::server::delete_vr,
        super::server::set_tenant,
        super::server::revoke,
        super::server::list_interfaces,
        super::server::bind_interface,
        super::server::unbind_interface,
        super::server::move_interface,
        super::server::list_routes,
        super::server::add_route,
        super::server::delete_route,
        super::server::list_labels,
        super::server::add_label,
        super::server::delete_label,
        super::server::list_neighbors,
        super::server::add_neighbor,
        super::server::delete_neighbor,
        super::server::set_l2tp,
        super::server::set_l2tp_role,
        super::server::set_realm,
        super::server::delete_realm,
        super::server::list_tunnels,
        super::server::vr_map,
        super::server::ldp,
        super::server::vr_peers,
        super::server::mobile_bindings,
        super::server::mobile_tunnels,
        super::server::mobile_agents,
        super::server::clear_tunnel,
        super::server::move_tunnel,
        super::server::list_sessions,
        super::server::disconnect,
        super::server::move_session,
        super::server::transaction,
        super::server::reload,
        super::server::get_config,
        super::server::save_config,
        super::server::stats,
        super::server::list_principals,
        super::server::add_principal,
        super::server::delete_principal,
        super::server::audit,
        super::metrics::metrics,
        super::dashboard::page,
    ),
    components(schemas(
        super::exec::TxResult,
        super::exec::NewToken,
        super::snapshot::Snapshot,
        super::server::TenantBody,
        super::server::MoveBody,
        super::server::ToBody,
        super::server::RoleBody,
        super::server::RealmBody,
        super::server::SaveBody,
        super::server::PrincipalBody,
        super::ops::Change,
        super::exec::Transaction,
        super::ApiError,
        super::audit::Record,
    ))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the paths refer to.
struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let c = api.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_endpoint_is_described() {
        let d = super::document();
        let paths = d["paths"].as_object().unwrap();
        let ops: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(ops, 46, "{:?}", paths.keys().collect::<Vec<_>>());
        assert!(paths.contains_key("/metrics") && paths.contains_key("/dashboard"));
        assert!(paths.contains_key("/api/v1/vrs/{vr}/sessions/{id}/move"));
        assert!(paths.contains_key("/api/v1/vrs/{vr}/tunnels/{id}/move"));
        assert!(paths.contains_key("/api/v1/vrs/{vr}/routes/{prefix}"));
        assert!(paths.contains_key("/api/v1/vrs/{vr}/map"));
        assert!(paths.contains_key("/api/v1/ldp"));
        assert!(paths.contains_key("/api/v1/vrs/{vr}/peers"));
        let schemas = d["components"]["schemas"].as_object().unwrap();
        for s in [
            "Change",
            "Transaction",
            "ApiError",
            "Snapshot",
            "TxResult",
            "ToBody",
        ] {
            assert!(schemas.contains_key(s), "schema {s} missing");
        }
        assert_eq!(
            d["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
