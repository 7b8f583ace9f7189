//! A `transform` guest that would make an HTTP request: it imports
//! `wasi:http/outgoing-handler`, which wasmhook refuses for transforms at load (they stay
//! pure, so a replay computes what the first run did).

wit_bindgen::generate!({
    world: "transform",
    path: "../../../wit",
});

use exports::wasmhook::plugin::transformer::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, OutgoingRequest};
use wasmhook::plugin::types::{Context, PluginError, Property};

struct HttpTransform;

impl Guest for HttpTransform {
    fn transform(
        _ctx: Context,
        _config: Vec<(String, String)>,
        properties: Vec<Property>,
    ) -> Result<Vec<Property>, PluginError> {
        let request = OutgoingRequest::new(Fields::new());
        outgoing_handler::handle(request, None)
            .map_err(|e| PluginError { code: "http_error".into(), message: format!("{e:?}") })?;
        Ok(properties)
    }
}

export!(HttpTransform);
