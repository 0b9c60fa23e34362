//! The OpenAPI 3.1 description of the dashboard server's HTTP API, served at
//! `GET /api/openapi.json` (anyone may read it).
//!
//! [`ROUTES`] is the one list of the API's routes, their methods, who may
//! call them, their parameters and answers; [`document`] builds the
//! description from it with utoipa's builders. `server/tests/openapi.rs`
//! holds the list to the real router both ways: every documented route is
//! served (a documented route that 404s or 405s fails), and every route the
//! web module declares (`.route("…")`) is documented. Pages (`/`, `/metrics`,
//! …, `/runs/{id}`) are HTML, not API, and are not listed.

use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem, PathsBuilder, Required,
    ResponseBuilder,
    path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn},
    schema::{ObjectBuilder, SchemaType, Type},
};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Anyone who can reach the server (viewers in public mode).
    Anyone,
    /// The admin in public mode; in local mode a caller on this machine
    /// (loopback). Foreign origins are refused always.
    Admin,
}

/// A parameter of a route.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// In the path (`{name}`) or the query.
    pub in_path: bool,
    /// What it is, its values and default.
    pub description: &'static str,
}

/// One documented route.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path as axum declares it (`/api/runs/{id}`).
    pub path: &'static str,
    /// Grouping in the description.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call it.
    pub caller: Caller,
    /// Parameters.
    pub params: &'static [Param],
    /// The request body, when there is one.
    pub body: Option<&'static str>,
    /// `(status, meaning)` of its answers; errors are `{"error": "..."}`.
    pub answers: &'static [(u16, &'static str)],
}

const Q_RANGE: Param = Param {
    name: "range",
    in_path: false,
    description: "15m, 1h (raw samples), 24h or 7d (one-minute means)",
};
const Q_KIND: Param = Param {
    name: "kind",
    in_path: false,
    description: "compare, bench, chaos, demo or players; every kind when absent",
};
const P_ID: Param = Param {
    name: "id",
    in_path: true,
    description: "the run's 16 hex digits",
};
const P_SCENARIO: Param = Param {
    name: "scenario",
    in_path: true,
    description: "normal, conflict or node_failure",
};
const Q_SEED: Param = Param {
    name: "seed",
    in_path: false,
    description: "the virtual clock's seed (default 1)",
};
const Q_FORMAT: Param = Param {
    name: "format",
    in_path: false,
    description: "csv for the history as CSV; JSON otherwise",
};

const P_KIND: Param = Param {
    name: "kind",
    in_path: true,
    description: "smart or naive: whose twin cluster",
};
const P_NODE: Param = Param {
    name: "node",
    in_path: true,
    description: "the node's index (0 for node-1)",
};
const P_CHUNK: Param = Param {
    name: "id",
    in_path: true,
    description: "the chunk's storage id",
};
const Q_VIEWER: Param = Param {
    name: "viewer",
    in_path: false,
    description: "the viewer's random id, 16 to 64 characters of 0-9 a-z A-Z _ -",
};
const Q_ORIGIN: Param = Param {
    name: "origin",
    in_path: false,
    description: "a node index (that node the single origin), pathways (every node a pathway) or steering (pathways ranked by vstack every TTL)",
};
const P_RUNG: Param = Param {
    name: "rung",
    in_path: true,
    description: "the rendition's index in the ladder, lowest bitrate first (0 for a video of one rendition)",
};
const Q_HLS_PATHWAY: Param = Param {
    name: "_HLS_pathway",
    in_path: false,
    description: "the pathway the player uses now (a node id); the player appends it",
};
const Q_HLS_THROUGHPUT: Param = Param {
    name: "_HLS_throughput",
    in_path: false,
    description: "the player's throughput estimate, bit/s (at most 10^12); the player appends it",
};
const Q_BYTES: Param = Param {
    name: "bytes",
    in_path: false,
    description: "payload, bytes (default 0, at most 1 MiB)",
};

const NO_ENGINE: (u16, &str) = (503, "no engine runs in this server");
const NO_HISTORY: (u16, &str) = (503, "this server keeps no history");

/// Every route of the API (see the module docs).
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        tag: "server",
        summary: "Liveness: {\"status\":\"ok\"} while the process serves",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "ok")],
    },
    Route {
        method: "GET",
        path: "/api/openapi.json",
        tag: "server",
        summary: "This description",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "OpenAPI 3.1 JSON")],
    },
    Route {
        method: "GET",
        path: "/ws",
        tag: "server",
        summary: "WebSocket of JSON frames tagged by type: snapshot, metrics_update, chunk_downloaded, node_status, playback_state, demo, redundancy, anomaly, heartbeat",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[
            (101, "switching to the WebSocket"),
            (403, "foreign origin"),
            (503, "the most dashboards this server takes are connected"),
        ],
    },
    Route {
        method: "GET",
        path: "/api/status",
        tag: "engine",
        summary: "Both clients now: playback, buffer, QoE so far, per-node network stats and scores",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "status"), NO_ENGINE],
    },
    Route {
        method: "GET",
        path: "/api/stats",
        tag: "engine",
        summary: "Buffer history, scheduler and per-node network stats of both clients",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "stats"), NO_ENGINE],
    },
    Route {
        method: "GET",
        path: "/api/metrics",
        tag: "engine",
        summary: "Averages over the kept history, totals since start, the history series",
        caller: Caller::Anyone,
        params: &[Q_FORMAT],
        body: None,
        answers: &[
            (200, "metrics (JSON or CSV)"),
            (400, "unknown format"),
            NO_ENGINE,
        ],
    },
    Route {
        method: "GET",
        path: "/api/performance",
        tag: "engine",
        summary: "The seed's targets, the smart client's measured values, met or not",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "targets"), NO_ENGINE],
    },
    Route {
        method: "GET",
        path: "/api/redundancy",
        tag: "engine",
        summary: "Adaptive redundancy: per-chunk target and replicas, totals, events, history",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[
            (200, "report"),
            (404, "no replication manager here"),
            NO_ENGINE,
        ],
    },
    Route {
        method: "GET",
        path: "/api/anomalies",
        tag: "engine",
        summary: "{\"open\",\"alerts\"}: every open alert and the newest resolved ones, newest first",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "alerts"), NO_ENGINE],
    },
    Route {
        method: "GET",
        path: "/api/compare",
        tag: "runs",
        summary: "The latest saved vstack compare result",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[
            (200, "comparison"),
            (404, "none saved"),
            (500, "the file is not a comparison"),
        ],
    },
    Route {
        method: "GET",
        path: "/api/consensus/{scenario}",
        tag: "engine",
        summary: "A recorded ChunkPaxos run on a virtual clock",
        caller: Caller::Anyone,
        params: &[P_SCENARIO, Q_SEED],
        body: None,
        answers: &[
            (200, "recording"),
            (400, "bad seed"),
            (404, "unknown scenario"),
        ],
    },
    Route {
        method: "GET",
        path: "/api/history",
        tag: "history",
        summary: "Stored samples and alerts of a time range",
        caller: Caller::Anyone,
        params: &[Q_RANGE],
        body: None,
        answers: &[(200, "history"), (400, "unknown range"), NO_HISTORY],
    },
    Route {
        method: "GET",
        path: "/api/runs",
        tag: "runs",
        summary: "Stored runs, newest first (at most 500)",
        caller: Caller::Anyone,
        params: &[Q_KIND],
        body: None,
        answers: &[(200, "runs"), (400, "unknown kind"), NO_HISTORY],
    },
    Route {
        method: "POST",
        path: "/api/runs",
        tag: "runs",
        summary: "Store a run a CLI tool publishes (--publish); answers {\"id\",\"url\"}",
        caller: Caller::Admin,
        params: &[],
        body: Some("a RunRecord (JSON, at most 4 MiB)"),
        answers: &[
            (201, "stored"),
            (400, "malformed or out of bounds"),
            (401, "public mode: admin only"),
            (
                403,
                "foreign origin, or not from this machine in local mode",
            ),
            (409, "a run with that id is stored already"),
            (413, "over 4 MiB"),
            NO_HISTORY,
        ],
    },
    Route {
        method: "GET",
        path: "/api/runs/{id}",
        tag: "runs",
        summary: "One stored run: summary, machine, version, tables, charts, notes, the tool's report",
        caller: Caller::Anyone,
        params: &[P_ID],
        body: None,
        answers: &[
            (200, "run"),
            (400, "not 16 hex digits"),
            (404, "unknown run"),
            NO_HISTORY,
        ],
    },
    Route {
        method: "POST",
        path: "/api/auth/signin",
        tag: "access",
        summary: "Public mode: sign in as admin (form token, next); sets the session cookie",
        caller: Caller::Anyone,
        params: &[],
        body: Some("form: token, next"),
        answers: &[
            (200, "signed in (scripts)"),
            (303, "signed in (browsers)"),
            (400, "malformed form"),
            (401, "wrong token"),
            (404, "not in public mode: every local caller is admin"),
        ],
    },
    Route {
        method: "POST",
        path: "/api/auth/signout",
        tag: "access",
        summary: "Clear the admin session",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "signed out"), (303, "signed out (browsers)")],
    },
    Route {
        method: "GET",
        path: "/api/auth/me",
        tag: "access",
        summary: "The caller's access: {\"public\",\"admin\"}",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "access")],
    },
    Route {
        method: "POST",
        path: "/api/fn/server_info",
        tag: "server functions",
        summary: "Identity and liveness of the server",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "server info")],
    },
    Route {
        method: "POST",
        path: "/api/fn/dashboard_snapshot",
        tag: "server functions",
        summary: "The live engine's whole state (null without an engine)",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "snapshot")],
    },
    Route {
        method: "POST",
        path: "/api/fn/control",
        tag: "server functions",
        summary: "Apply a control: {\"control\":{\"action\":…}} (play, stop, restart, pick_video, scenario, node_conditions, kill_node, revive_node, rerun_comparison, start_demo, stop_demo, make_hot, cool_down)",
        caller: Caller::Admin,
        params: &[],
        body: Some("{\"control\": Control}"),
        answers: &[
            (200, "confirmation"),
            (400, "refused: bad node, scenario or range"),
            (401, "public mode: admin only"),
            (
                403,
                "foreign origin, or not from this machine in local mode",
            ),
            (503, "no engine"),
        ],
    },
    Route {
        method: "POST",
        path: "/api/fn/latest_compare",
        tag: "server functions",
        summary: "The latest saved vstack compare result (null when none)",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "comparison"), (500, "the file is not a comparison")],
    },
    Route {
        method: "POST",
        path: "/api/fn/consensus_run",
        tag: "server functions",
        summary: "A ChunkPaxos scenario run on a virtual clock (form: scenario, seed)",
        caller: Caller::Anyone,
        params: &[],
        body: Some("form: scenario, seed"),
        answers: &[(200, "recording"), (400, "unknown scenario")],
    },
    Route {
        method: "POST",
        path: "/api/fn/access",
        tag: "server functions",
        summary: "The caller's access",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[(200, "access")],
    },
    Route {
        method: "POST",
        path: "/api/fn/metrics_history",
        tag: "server functions",
        summary: "Stored history of a range (form: range)",
        caller: Caller::Anyone,
        params: &[],
        body: Some("form: range"),
        answers: &[(200, "history"), (400, "unknown range"), NO_HISTORY],
    },
    Route {
        method: "POST",
        path: "/api/fn/list_runs",
        tag: "server functions",
        summary: "Stored runs (form: kind, optional)",
        caller: Caller::Anyone,
        params: &[],
        body: Some("form: kind"),
        answers: &[(200, "runs"), (400, "unknown kind"), NO_HISTORY],
    },
    Route {
        method: "POST",
        path: "/api/fn/get_run",
        tag: "server functions",
        summary: "One stored run (form: id)",
        caller: Caller::Anyone,
        params: &[],
        body: Some("form: id"),
        answers: &[
            (200, "run"),
            (400, "malformed id"),
            (404, "unknown run"),
            NO_HISTORY,
        ],
    },
    Route {
        method: "GET",
        path: "/watch/api/manifest",
        tag: "watch",
        summary: "What a browser player needs first: the chunks (ids, durations, sizes, SHA-256, replicas as node indices), the node ids, the MSE type with its codecs, viewers now and the bound",
        caller: Caller::Anyone,
        params: &[],
        body: None,
        answers: &[
            (200, "manifest"),
            (503, "no engine, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/{kind}/{node}/chunks/{id}",
        tag: "watch",
        summary: "A chunk (or the byte range of a Range header) from a node, paced on the viewer's own link to it, which follows the node's conditions; not counted in the chunk's popularity",
        caller: Caller::Anyone,
        params: &[P_KIND, P_NODE, P_CHUNK, Q_VIEWER],
        body: None,
        answers: &[
            (200, "the chunk"),
            (206, "the range"),
            (400, "bad viewer id, client kind, node or chunk id"),
            (404, "no such node or chunk"),
            (416, "unsatisfiable range"),
            (
                429,
                "every viewer place is taken: {error, watching, max_watchers}",
            ),
            (503, "the node is down, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/{kind}/{node}/ping",
        tag: "watch",
        summary: "A probe on the viewer's link to a node: bytes zero bytes after its latency, at its rate",
        caller: Caller::Anyone,
        params: &[P_KIND, P_NODE, Q_VIEWER, Q_BYTES],
        body: None,
        answers: &[
            (200, "the payload"),
            (400, "bad viewer id, client kind, node or bytes over 1 MiB"),
            (404, "no such node"),
            (
                429,
                "every viewer place is taken: {error, watching, max_watchers}",
            ),
            (503, "the node is down, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/hls/main.m3u8",
        tag: "watch",
        summary: "The watched video as an HLS multivariant playlist for the players most sites ship (hls.js): one node as the origin, every node as a pathway, or pathways with #EXT-X-CONTENT-STEERING",
        caller: Caller::Anyone,
        params: &[Q_VIEWER, Q_ORIGIN],
        body: None,
        answers: &[
            (200, "the playlist (application/vnd.apple.mpegurl)"),
            (400, "bad viewer id or origin"),
            (503, "no engine, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/hls/{node}/{rung}/media.m3u8",
        tag: "watch",
        summary: "A rendition's HLS media playlist as a node serves it to the viewer's hls.js player (it waits out a partition of the viewer's link)",
        caller: Caller::Anyone,
        params: &[P_NODE, P_RUNG, Q_VIEWER],
        body: None,
        answers: &[
            (200, "the playlist"),
            (400, "bad viewer id or node"),
            (404, "no such node or rung"),
            (
                429,
                "every viewer place is taken: {error, watching, max_watchers}",
            ),
            (503, "the node is down, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/hls/{node}/segments/{id}",
        tag: "watch",
        summary: "An HLS segment from a node on the viewer's hls.js link; a segment the node lacks it pulls from a running replica first (an edge's miss), so each node is a whole origin",
        caller: Caller::Anyone,
        params: &[P_NODE, P_CHUNK, Q_VIEWER],
        body: None,
        answers: &[
            (200, "the segment"),
            (206, "the range"),
            (400, "bad viewer id, node or chunk id"),
            (404, "no such node, or no running node holds the chunk"),
            (416, "unsatisfiable range"),
            (
                429,
                "every viewer place is taken: {error, watching, max_watchers}",
            ),
            (503, "the node is down, or no embedded cluster"),
        ],
    },
    Route {
        method: "GET",
        path: "/watch/hls/steering",
        tag: "watch",
        summary: "The HLS Content Steering manifest (VERSION, TTL, RELOAD-URI, PATHWAY-PRIORITY): the nodes ranked by the smart monitor's scores, killed or down nodes last; the player stays on its pathway within 1.25x of the best unless its throughput is below the lowest rung",
        caller: Caller::Anyone,
        params: &[Q_VIEWER, Q_HLS_PATHWAY, Q_HLS_THROUGHPUT],
        body: None,
        answers: &[
            (200, "the steering manifest (JSON)"),
            (400, "bad viewer id, pathway or throughput"),
            (
                410,
                "this server steers nothing (no engine or embedded cluster): stop reloading",
            ),
            (
                429,
                "reloaded within a second of the last (Retry-After says when), or every viewer place is taken",
            ),
        ],
    },
];

fn method(m: &str) -> HttpMethod {
    match m {
        "POST" => HttpMethod::Post,
        _ => HttpMethod::Get,
    }
}

fn error_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "error",
            ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
        )
        .required("error")
        .build()
}

/// The description of [`ROUTES`].
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let who = match r.caller {
            Caller::Anyone => "Who: anyone who can reach the server.",
            Caller::Admin => {
                "Who: the admin in public mode (Bearer token or session cookie); in local mode a caller on this machine. Foreign origins: 403 always."
            }
        };
        let mut op = OperationBuilder::new()
            .tag(r.tag)
            .summary(Some(r.summary))
            .description(Some(who))
            .operation_id(Some(format!(
                "{}_{}",
                r.method.to_lowercase(),
                r.path
                    .trim_start_matches('/')
                    .replace(['/', '.', '{', '}'], "_")
            )));
        for p in r.params {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(p.name)
                    .parameter_in(if p.in_path {
                        ParameterIn::Path
                    } else {
                        ParameterIn::Query
                    })
                    .required(if p.in_path {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(p.description))
                    .schema(Some(
                        ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)),
                    )),
            );
        }
        if let Some(b) = r.body {
            op = op.request_body(Some(
                utoipa::openapi::request_body::RequestBodyBuilder::new()
                    .description(Some(b))
                    .build(),
            ));
        }
        for (status, meaning) in r.answers {
            let mut resp = ResponseBuilder::new().description(*meaning);
            if *status >= 400 {
                resp = resp.content(
                    "application/json",
                    ContentBuilder::new().schema(Some(error_schema())).build(),
                );
            }
            op = op.response(status.to_string(), resp.build());
        }
        paths = paths.path(r.path, PathItem::new(method(r.method), op.build()));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("vstack dashboard API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The live engine (smart vs naive streaming clients on twin clusters), its history and runs. Errors answer {\"error\": \"...\"} with a 4xx or 5xx status. Units are in field names (_ms, _bytes, _mbps).",
                ))
                .build(),
        )
        .paths(paths.build())
        .build()
}

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    match document().to_pretty_json() {
        Ok(j) => ([(axum::http::header::CONTENT_TYPE, "application/json")], j).into_response(),
        Err(e) => crate::http::ApiError::internal(e.to_string()).into_response(),
    }
}
