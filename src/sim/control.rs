//! The simulator's own control routes under `/_sim/` (no auth, not counted in stats):
//! stats, mutations, expected-summary, floor and knobs.
//!
//! Invariant: these routes never touch the API's rate limit, fault dice or counters.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

use super::api::{control_response, read_raw};
use super::mutate::Mutation;
use super::{Inner, Sim};

/// Answers one `/_sim/*` request.
pub(crate) async fn handle(inner: Arc<Inner>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let sim = Sim { inner };
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    match (method, path.as_str()) {
        (Method::GET, "/_sim/stats") => control_response(200, sim.stats().to_json()),
        (Method::POST, "/_sim/stats/reset") => {
            sim.reset_stats();
            control_response(200, json!({ "ok": true }))
        }
        (Method::GET, "/_sim/expected") => {
            let e = sim.expected();
            control_response(
                200,
                json!({
                    "users": e.users.len(),
                    "pages": e.pages.len(),
                    "pages_in_trash": e.pages.values().filter(|p| p.in_trash).count(),
                    "databases": e.databases.len(),
                    "data_sources": e.data_sources.len(),
                    "blocks": e.blocks.len(),
                    "comments": e.comments.len(),
                }),
            )
        }
        (Method::GET, "/_sim/floor") => {
            let f = sim.floor();
            control_response(
                200,
                json!({ "by_endpoint": f.by_endpoint, "total": f.total,
                        "total_without_block_comments": f.total_without_block_comments }),
            )
        }
        (Method::GET, "/_sim/knobs") => control_response(200, sim.knobs().to_json()),
        (Method::POST, "/_sim/knobs") => match body_json(req).await {
            Ok(v) => {
                let mut k = sim.knobs();
                match k.apply_json(&v) {
                    Ok(()) => {
                        sim.set_knobs(k.clone());
                        control_response(200, k.to_json())
                    }
                    Err(e) => control_response(400, json!({ "error": e })),
                }
            }
            Err(e) => control_response(400, json!({ "error": e })),
        },
        (Method::POST, "/_sim/mutate") => match body_json(req).await {
            Ok(v) => mutate(&sim, v),
            Err(e) => control_response(400, json!({ "error": e })),
        },
        _ => control_response(404, json!({ "error": "unknown simulator route" })),
    }
}

async fn body_json(req: Request<Incoming>) -> Result<Value, String> {
    let bytes = read_raw(req).await.map_err(|e| e.message)?;
    serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))
}

/// One mutation or an array; answers `{"outcomes":[{"created_ids":[…]} | {"error":"…"}]}`.
fn mutate(sim: &Sim, v: Value) -> Response<Full<Bytes>> {
    let list = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut outcomes = Vec::new();
    for item in list {
        let out = match serde_json::from_value::<Mutation>(item) {
            Ok(m) => match sim.mutate(m) {
                Ok(o) => json!({ "created_ids": o.created_ids }),
                Err(e) => json!({ "error": e.to_string() }),
            },
            Err(e) => json!({ "error": format!("not a mutation: {e}") }),
        };
        outcomes.push(out);
    }
    control_response(200, json!({ "outcomes": outcomes }))
}
