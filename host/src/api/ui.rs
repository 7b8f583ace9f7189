//! `/ui`: the admin web UI, plain HTML, CSS and JavaScript modules embedded in the binary
//! (no Node at build or run time). The page itself is public; everything it shows comes
//! from the admin API with the token the admin signs in with.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Every asset: its path under `/ui/`, content type, and bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../ui/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../ui/style.css")),
    ("js/main.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/main.js")),
    ("js/api.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/api.js")),
    ("js/dom.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/dom.js")),
    ("js/webhooks.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/webhooks.js")),
    ("js/wizard.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/wizard.js")),
    ("js/events.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/events.js")),
    ("js/plugins.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/plugins.js")),
    ("js/records.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/records.js")),
    ("js/record_import.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/record_import.js")),
    ("js/workflows.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/workflows.js")),
    ("js/workflow_editor.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/workflow_editor.js")),
    ("js/actions.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/actions.js")),
    ("js/sources.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/sources.js")),
    ("js/code_box.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/code_box.js")),
    ("js/dashboard.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/dashboard.js")),
    ("js/alerts.js", "text/javascript; charset=utf-8", include_str!("../../ui/js/alerts.js")),
];

/// `GET /ui`: the page.
pub async fn index() -> Response {
    asset_response("index.html")
}

/// `GET /ui/{*path}`: one asset, or 404.
pub async fn asset(Path(path): Path<String>) -> Response {
    asset_response(&path)
}

fn asset_response(path: &str) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == path) else {
        return (StatusCode::NOT_FOUND, "no such UI asset").into_response();
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Only our own scripts and styles; the API is same-origin. Webhook URLs hold secrets,
    // so no page of ours sends a Referer, and no other site may frame it.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
