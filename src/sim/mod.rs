//! A faithful in-process fake of the Notion API (Notion-Versions 2025-09-03, 2026-03-11
//! and 2026-12-01) and its webhook sender. Powers `notion-mirror sim`, `notion-mirror demo` and every integration test.
//!
//! Invariant: the workspace lives behind one std `Mutex` that is never held across an
//! `.await`; everything the HTTP API answers is rendered from it on demand (or, for search
//! with lag, from a snapshot queued at mutation time).
//!
//! Reading order: [`model`] (state) → [`generate`]/[`fixtures`] (seeded content) →
//! [`render`]/[`properties`] (JSON) → [`api`]/[`handlers`] (HTTP) → [`mutate`] (changes and
//! events) → [`expect`]/[`floor`] (what a perfect mirror holds and costs).
//!
//! # Notion behaviours simulated (source tags from `docs/reference/notion.md`)
//! - Bearer auth (401 `unauthorized`), mandatory `Notion-Version` (400 `missing_version`):
//!   2025-09-03, 2026-03-11 and 2026-12-01 are answered, any other is 400
//!   `validation_error` [S1][S23]. Per version (`version.rs`): `archived` only on
//!   2025-09-03; the AI meeting-notes block is `transcription` on 2025-09-03 and
//!   `meeting_notes` after; on 2026-12-01 pages in Search and Query answers carry only the
//!   title property unless `filter_properties` names others (changelog 2026-03-11, upgrade
//!   guides 2026-03-11 and 2026-12-01).
//! - Error bodies `{object:"error",status,code,message,request_id}` with Notion's codes and
//!   wording; `x-notion-request-id` header; `request_id` on every answer [S1][S5].
//! - Rate limit: token bucket per token (default 3 rps, burst 10), 429 `rate_limited` with an
//!   integer `Retry-After` ≥ 1; 429 storms; injected and random 500/502/503/504 (and any
//!   status via [`Sim::inject`]); added latency; hanging requests [S1][S2].
//! - Cursor pagination: `page_size` 1..=100 (default 100, else 400), opaque cursors (bad →
//!   400), `has_more`/`next_cursor`, GET lists in the query string, POST lists in the body;
//!   cursors are item keys, so lists that change while walked do not skip or repeat
//!   unchanged items [S4].
//! - Minute-rounded `created_time`/`last_edited_time` on pages, databases, data sources,
//!   blocks and comments [S18].
//! - Databases as containers (`data_sources[]`, no schema), data sources with schemas,
//!   rows parented `{type:"data_source_id",data_source_id,database_id}`, a database with two
//!   data sources, `database_parent` [S7][S17].
//! - Every property type of notion.md §5.7 except `place`; URL-encoded property ids (e.g.
//!   `f%5C%5C%3Ap`), accepted as given on `/properties/{id}` [S11][S5].
//! - The 25-reference rule in page objects (GET page, query, search): relation cut at 25
//!   with `has_more`, people cut at 25, title/rich_text cut before the 26th mention;
//!   formulas and rollups computed over the first 25 related pages; the property-item
//!   endpoint returns complete paginated values, rollups `incomplete` until the last page
//!   [S11][S12].
//! - Query (`query/`): timestamp filters and property filters of every simple type (text
//!   operators, number comparisons, checkbox, select/status, multi_select/people/relation
//!   `contains`, dates, `is_empty`/`is_not_empty`, files, unique_id, formula and rollup
//!   results), the relative date values `today`, `tomorrow`, `yesterday`, `one_week_ago`,
//!   `one_week_from_now`, `one_month_ago`, `one_month_from_now` (changelog 2026-03-30),
//!   people `contains: "me"` (matches nobody for an internal integration, same entry),
//!   `and`/`or` two levels deep; timestamp and property sorts (text, number, checkbox,
//!   select/status, date, unique_id), empty values last; `filter_properties`; trashed rows
//!   excluded; the per-query row cap with `request_status.incomplete_reason =
//!   query_result_limit_reached` [S12][S19][S5 helpers.ts].
//! - Views API (`views.rs`, changelog 2026-03-19; reference "View", "List views", "Create
//!   a view query", "Get view query results"): views per database in tab order, a default
//!   view per data source, list by `database_id` or `data_source_id` (references only),
//!   retrieve, view queries (the view's filter and sorts against its data source; results
//!   cached 15 minutes, paginated, 404 after expiry, deletable; the row cap applies);
//!   `view.created`/`view.updated` (with `updated_fields`)/`view.deleted` events with
//!   `data.view_type` (SDK webhook types).
//! - 2026 content (`fixtures_2026.rs`): `tab` blocks whose paragraph children carry
//!   `icon`s (changelog 2026-03-25/30), `heading_4`, `meeting_notes` (shape of the SDK's
//!   `TranscriptionBlockResponse`), `unsupported` with `block_type`, icons of type `icon`,
//!   `custom_emoji`, `external` and `file`, a Custom Agent as a bot user with `agent_id` in
//!   people values and as a page's `agent_id` parent (changelog 2026-05-08, 2026-10-15), a
//!   person whose `name` is null, formula and rollup `unsupported` results (changelog
//!   2026-08-05).
//! - Rollup property items: the rolled-up property's own items, flattened (one per rich
//!   text element of a title or text, per user, per relation page, else one per page), each
//!   with that property's id (guide "Read page property values").
//! - Search: title substring (data sources match their database's title), object filter
//!   (`"database"` → 400), `last_edited_time` sort, pages and data sources only, trashed and
//!   unshared objects excluded, index lag via `Knobs::search_lag` [S13][S7].
//! - Blocks: one level per call, `has_children`, child_page/child_database blocks sharing
//!   the object's id, columns, tables, synced block originals, toggleable headings, linked
//!   databases (400 on `/databases`), `unsupported` blocks, deleted blocks readable with
//!   `in_trash:true` but absent from children [S14][S22].
//! - Wrong-object-type ids: page id on /databases 400, database id on /pages 400,
//!   data-source id on /pages, /databases, /blocks 404, database and page ids on /blocks 200
//!   [S22 MrBinnacle#51].
//! - Comments: open comments only (resolved/deleted ones 404), ascending, page-level list
//!   separate from per-block lists, `display_name` [S15].
//! - Users: persons (with email) and bots, `/users/me` with the full `bot` object [S16].
//! - Unshared content (`RevokeAccess`): 404 everywhere, absent from lists, relation values
//!   pointing at it come back empty, no events [S1][S10][S11].
//! - Webhook events per mutation (`RawEvent`, handed to [`webhook::WebhookSender`]), only
//!   for content the integration can see [S9][S10].
//! - Notion-hosted files ([`files`]): `files` values, `image`/`pdf`/`file` blocks, page
//!   covers and icons, database and data source icons. Every answer signs each URL anew
//!   (`X-Amz-*` query string, `expiry_time` one hour ahead, `Knobs::file_url_ttl`); the URL
//!   points at the simulator itself (`/s3/…`), which serves the bytes (optionally throttled,
//!   `Knobs::file_bytes_per_sec`) and answers like S3: past its expiry 403 `AccessDenied`
//!   "Request has expired", signed by an expired session 400 `ExpiredToken`
//!   ([`Sim::expire_file_sessions`]), bad signature 403, unknown key 404, XML bodies
//!   [S5][notion-samples/blocks]. Downloads are counted apart from API requests
//!   ([`Sim::file_stats`]).
//!
//! # Knowingly not simulated
//! - Writes through the API (POST/PATCH pages, blocks, comments…): changes come from
//!   [`Sim::mutate`] / `POST /_sim/mutate` only.
//! - `result_type`, `in_trash` query option, relevance sort, search `filter.in_trash`
//!   (NEWER), `place` properties, relative date *ranges* (`past_week`, `next_month`, ...),
//!   status group filters, rollup `any`/`every`/`none` filters [S5][S12].
//! - View writes through the API (views change through [`Sim::mutate`] only), dashboard
//!   widgets, linked views of other databases, `GET /v1/custom_emojis`.
//! - 403 `restricted_resource` capability checks, 409 conflicts, 529 (only via `inject`),
//!   per-workspace rate limits and `rate_limit_reason` [S1][S3].
//! - Synced-block duplicates (reading them is UNCONFIRMED [S14]), templates, file uploads
//!   (the `file_upload` API; uploaded files show as hosted files), comment attachments,
//!   `video`/`audio` blocks with hosted files, guests, groups in people values.
//! - A property, block and icon type newer than the mirror (`future_property`,
//!   `future_block`, `future_icon`) stand for the next types Notion ships; they are not
//!   Notion's.
//! - Page mentions keep the title they were written with (Notion re-resolves them on read).
//! - Database timestamps are minute-rounded like pages (recorded 2025-09-03 database
//!   answers show millisecond `+00:00` timestamps; the spec chose uniform rounding).
//!
//! # Decisions on UNCONFIRMED behaviour
//! - Search order without `sort`: creation order (stable). Comments on a page list
//!   page-level discussions only (notion.md §4.8). Comments never bump `last_edited_time`
//!   (notion.md §7.13). Lock/unlock do not bump. Resolving a comment emits `comment.updated`.
//! - A database id on `/data_sources/{id}` is 404. Trashing a page does not trash its
//!   subpages (they stay live); relations to trashed pages stay in values; editing one side
//!   of a dual relation edits (and bumps, and emits `page.properties_updated` for) the
//!   other side's pages. A `child_page` block's `has_children` follows its page's content.
//! - `data.parent` of `data_source.*` events is the database (the docs' samples disagree).
//! - Query semantics (Notion documents the operators, not these details): text
//!   `equals`/`does_not_equal` compare exactly, `contains`, `does_not_contain`,
//!   `starts_with`, `ends_with` ignore ASCII case (what SQLite's `lower()` does, so the
//!   mirror's SQL views can match); empty values match only `is_empty` and the negative
//!   operators; dates compare by UTC calendar date when the filter value is a date (or a
//!   relative value) and as instants otherwise, on a date's `start`; relative values
//!   resolve against today in UTC, months by calendar month clamped to the month's end;
//!   text sorts ignore ASCII case; select and status sort by their option order in the
//!   schema; ties and unsorted queries follow `created_time` (minute-rounded), then the page
//!   id (Notion guarantees no order without sorts).
//! - Views: filters and sorts name properties by their encoded ids (the API accepts names
//!   and ids; 2026-03-30 fixed encoded ids); view queries apply the filter and sorts only,
//!   not quick filters (reference "Create a view query": "Executes the view's filter and
//!   sort configuration"); view changes move no page, database or data source timestamp;
//!   view events are not aggregated; views of a trashed database stay readable; view
//!   timestamps are minute-rounded; deleting a property leaves views naming it as they
//!   are (their queries then answer 400).
//! - A new data source (and a new database's) gets a default table view, announced with
//!   `view.created`. Rows of a trashed data source are not edited by random churn (they
//!   went to the trash with it).

pub mod api;
pub mod changes;
pub mod cli;

mod control;
pub mod edit_floor;
pub mod error;
pub mod events;
pub mod expected;
mod file_host;
pub mod files;
mod filler;
pub mod fixtures;
pub mod fixtures_2026;
mod fixtures_files;
mod fixtures_showcase;
mod fixtures_sources;
mod fixtures_tasks;
pub mod floor;
pub mod generate;
mod handlers;
mod knobs;
mod limits;
pub mod model;
pub mod mutate;
mod mutate_content;
mod mutate_pages;
mod mutate_schema;
mod mutate_values;
pub mod mutate_views;
pub mod pagination;
pub mod properties;
pub mod property_items;
mod query;
pub mod random;
pub mod render;
pub mod richtext;
mod search_index;
pub mod stats;
mod tree;
pub mod util;
pub mod version;
pub mod views;
pub mod webhook;
mod workspace;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::SimError;
pub use expected::Expected;
pub use floor::Floor;
pub use generate::GenConfig;
pub use knobs::{Knobs, RateLimit};
pub use model::Workspace;
pub use mutate::{Mutation, MutationOutcome, ParentRef, PropertyKind};
pub use random::MutationMix;
pub use stats::Stats;

use limits::Limits;
use search_index::SearchIndex;
use util::SimRng;
use webhook::{WebhookConfig, WebhookSender};

/// How the simulator is started.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:0` in tests).
    pub listen: SocketAddr,
    /// The bearer token the API accepts.
    pub token: String,
    pub generator: GenConfig,
    pub knobs: Knobs,
    /// "The present" the workspace is generated against (timestamps lie up to 30 days
    /// before it); `None` = the real clock. A fixed time makes every answer byte-stable
    /// across runs (the export's golden files rely on it).
    pub now: Option<chrono::DateTime<Utc>>,
    /// The workspace's name (users/me `bot.workspace_name`, webhook `workspace_name`);
    /// `None` = "Acme Sim". Lets two simulators side by side look like two workspaces.
    pub workspace_name: Option<String>,
}

impl SimConfig {
    /// `127.0.0.1:0`, token `ntn_sim_<seed>`, default knobs.
    pub fn new(generator: GenConfig) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: format!("ntn_sim_{}", generator.seed),
            generator,
            knobs: Knobs::default(),
            now: None,
            workspace_name: None,
        }
    }
}

/// How many raw events [`Sim::event_log`] keeps.
const EVENT_LOG_CAP: usize = 10_000;

/// Shared state behind a [`Sim`].
pub(crate) struct Inner {
    pub ws: Mutex<Workspace>,
    knobs: Mutex<Knobs>,
    pub limits: Mutex<Limits>,
    pub stats: Arc<Mutex<Stats>>,
    pub search: Mutex<SearchIndex>,
    /// Cached view queries (`POST /v1/views/{id}/queries`).
    pub view_queries: Mutex<views::QueryCache>,
    /// Signs hosted-file URLs and serves the files.
    pub(crate) files: files::FileHost,
    webhooks: Mutex<Option<Arc<WebhookSender>>>,
    /// The most recent raw events (bounded), for tests and the demo.
    events: Mutex<std::collections::VecDeque<events::RawEvent>>,
    pub token: String,
    pub base_url: String,
    seed: u64,
    rid: Mutex<SimRng>,
    shutdown: CancellationToken,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    pub fn request_id(&self) -> String {
        lock(&self.rid).uuid()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running simulator (cheap to clone; all clones share one workspace and server).
#[derive(Clone)]
pub struct Sim {
    pub(crate) inner: Arc<Inner>,
}

impl Sim {
    /// Binds, generates the workspace and starts serving.
    pub async fn start(config: SimConfig) -> anyhow::Result<Sim> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", addr.port());
        let gen = config.generator.clone();
        let now = config.now.unwrap_or_else(Utc::now);
        let mut ws = tokio::task::spawn_blocking(move || generate::generate(&gen, now)).await?;
        if let Some(name) = &config.workspace_name {
            ws.workspace_name = name.clone();
        }
        let seed = config.generator.seed;
        let file_host = files::FileHost::new(&base_url, &ws.workspace_id, seed);
        let inner = Arc::new(Inner {
            ws: Mutex::new(ws),
            knobs: Mutex::new(config.knobs.clone()),
            limits: Mutex::new(Limits::new(seed)),
            stats: Arc::new(Mutex::new(Stats::default())),
            search: Mutex::new(SearchIndex::default()),
            view_queries: Mutex::new(views::QueryCache::default()),
            files: file_host,
            webhooks: Mutex::new(None),
            events: Mutex::new(std::collections::VecDeque::new()),
            token: config.token.clone(),
            base_url,
            seed,
            rid: Mutex::new(SimRng::new(seed ^ 0xA11C_E5ED)),
            shutdown: CancellationToken::new(),
            server: Mutex::new(None),
        });
        if !config.knobs.search_lag.is_zero() {
            let ws = lock(&inner.ws);
            lock(&inner.search).build(&ws);
        }
        let handle = tokio::spawn(api::serve(listener, inner.clone(), inner.shutdown.clone()));
        *lock(&inner.server) = Some(handle);
        tracing::info!(url = %inner.base_url, seed, "simulated Notion API listening");
        Ok(Sim { inner })
    }

    /// `http://127.0.0.1:PORT` (clients append `/v1/...`).
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn token(&self) -> String {
        self.inner.token.clone()
    }

    pub fn knobs(&self) -> Knobs {
        self.inner.knobs()
    }

    /// Replaces the knobs. A changed rate limit restarts the buckets full; turning search
    /// lag on snapshots the current workspace, turning it off drops the snapshot.
    pub fn set_knobs(&self, knobs: Knobs) {
        let old = std::mem::replace(&mut *lock(&self.inner.knobs), knobs.clone());
        if old.rate_limit != knobs.rate_limit {
            lock(&self.inner.limits).reset_buckets();
        }
        if old.search_lag.is_zero() != knobs.search_lag.is_zero() {
            let ws = lock(&self.inner.ws);
            let mut ix = lock(&self.inner.search);
            if knobs.search_lag.is_zero() {
                ix.clear();
            } else {
                ix.build(&ws);
            }
        }
    }

    /// The next `times` calls to `endpoint` (a name like `pages.retrieve`, or `*`) answer
    /// `status` with Notion's error body for it (429/529 with `Retry-After`).
    pub fn inject(&self, endpoint: &str, status: u16, times: u32) {
        lock(&self.inner.limits).inject(endpoint, status, times);
    }

    pub fn stats(&self) -> Stats {
        lock(&self.inner.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = Stats::default();
    }

    /// Starts the webhook sender (call after the receiver is up); later mutations emit to it.
    pub fn start_webhooks(&self, config: WebhookConfig) {
        let sender = Arc::new(WebhookSender::start(config));
        *lock(&self.inner.webhooks) = Some(sender);
    }

    pub fn webhooks(&self) -> Option<Arc<WebhookSender>> {
        lock(&self.inner.webhooks).clone()
    }

    /// A webhook configuration for this workspace with demo-friendly timing (1 s
    /// aggregation window, retry schedule sped up 1000×, no faults).
    pub fn default_webhook_config(&self, url: &str) -> WebhookConfig {
        let ws = lock(&self.inner.ws);
        let mut rng = SimRng::new(self.inner.seed ^ 0xB00C);
        WebhookConfig {
            url: url.to_string(),
            verification_token: format!("secret_{}", rng.hex(43)),
            aggregation_window: Duration::from_secs(1),
            time_factor: 0.001,
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            max_extra_delay: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(5),
            seed: self.inner.seed,
            workspace_id: ws.workspace_id.clone(),
            workspace_name: ws.workspace_name.clone(),
            subscription_id: rng.uuid(),
            integration_id: ws.bot_id.clone(),
        }
    }

    /// Applies one mutation (authored by the workspace's first person) and emits its events.
    pub fn mutate(&self, m: Mutation) -> Result<MutationOutcome, SimError> {
        let author = lock(&self.inner.ws).author_id.clone();
        self.mutate_as(&m, &author)
    }

    /// Applies one mutation authored by user `author` and emits its events.
    pub fn mutate_as(&self, m: &Mutation, author: &str) -> Result<MutationOutcome, SimError> {
        self.mutate_logged(m, author).map(|(outcome, _)| outcome)
    }

    /// Applies `m` and returns what it created and the raw events it emitted.
    fn mutate_logged(
        &self,
        m: &Mutation,
        author: &str,
    ) -> Result<(MutationOutcome, Vec<events::RawEvent>), SimError> {
        let lag = self.knobs().search_lag;
        let applied = {
            let mut ws = lock(&self.inner.ws);
            let mut search = lock(&self.inner.search);
            let applied = mutate::apply(&mut ws, m, Utc::now(), author, search.is_built())?;
            search.queue(&ws, &applied.touched, Instant::now(), lag);
            applied
        };
        {
            let mut log = lock(&self.inner.events);
            log.extend(applied.events.iter().cloned());
            let excess = log.len().saturating_sub(EVENT_LOG_CAP);
            log.drain(..excess);
        }
        if let Some(w) = self.webhooks() {
            for e in &applied.events {
                w.emit(e.clone());
            }
        }
        Ok((applied.outcome, applied.events))
    }

    /// The raw events emitted by mutations so far (the last 10,000), oldest first — what
    /// the webhook sender was (or would have been) given.
    pub fn event_log(&self) -> Vec<events::RawEvent> {
        lock(&self.inner.events).iter().cloned().collect()
    }

    /// Empties [`Sim::event_log`].
    pub fn clear_event_log(&self) {
        lock(&self.inner.events).clear();
    }

    /// Applies one random valid mutation of `kind` (see [`random::KINDS`]) authored by a
    /// random person; returns it with what it created and its floor (the fewest requests
    /// a mirror needs to show it, [`edit_floor`]). None when `kind` has no valid target.
    pub fn mutate_kind(
        &self,
        rng: &mut SimRng,
        kind: &str,
    ) -> Option<(Mutation, MutationOutcome, edit_floor::EndpointCounts)> {
        for _ in 0..8 {
            let picked = {
                let ws = lock(&self.inner.ws);
                let persons: Vec<String> = ws
                    .users
                    .iter()
                    .filter(|u| matches!(u.kind, model::UserKind::Person { .. }))
                    .map(|u| u.id.clone())
                    .collect();
                let author = rng.pick(&persons).cloned().unwrap_or_default();
                random::pick_kind(&ws, rng, kind).map(|m| (m, author))
            };
            let Some((m, author)) = picked else {
                continue;
            };
            if let Ok((outcome, events)) = self.mutate_logged(&m, &author) {
                let floor = edit_floor::edit_floor(&lock(&self.inner.ws), &events);
                return Some((m, outcome, floor));
            }
        }
        None
    }

    /// Like [`Sim::mutate_kind`], and what the change feed of an exact mirror (speaking
    /// `version`) must then record: the exact changes ([`changes::between`]) and what the
    /// mutation itself says ([`changes::of_mutation`]).
    pub fn mutate_kind_with_changes(
        &self,
        rng: &mut SimRng,
        kind: &str,
        version: version::NotionVersion,
    ) -> Option<(
        Mutation,
        Vec<crate::mirror::changes::Change>,
        Vec<changes::Expectation>,
    )> {
        let before = self.expected_for(version);
        let (m, outcome, _) = self.mutate_kind(rng, kind)?;
        let after = self.expected_for(version);
        let exact = changes::between(&before, &after);
        let meant = changes::of_mutation(&m, &outcome, &before, &after);
        Some((m, exact, meant))
    }

    /// Applies `count` random valid mutations (seeded) and returns them.
    pub fn mutate_random(&self, seed: u64, count: usize, mix: MutationMix) -> Vec<Mutation> {
        let mut rng = SimRng::new(seed);
        let mut done = Vec::new();
        let mut attempts = 0;
        while done.len() < count && attempts < count * 30 + 30 {
            attempts += 1;
            let picked = {
                let ws = lock(&self.inner.ws);
                let persons: Vec<String> = ws
                    .users
                    .iter()
                    .filter(|u| matches!(u.kind, model::UserKind::Person { .. }))
                    .map(|u| u.id.clone())
                    .collect();
                let author = rng.pick(&persons).cloned().unwrap_or_default();
                random::pick(&ws, &mut rng, &mix).map(|m| (m, author))
            };
            if let Some((m, author)) = picked {
                if self.mutate_as(&m, &author).is_ok() {
                    done.push(m);
                }
            }
        }
        done
    }

    /// What an exact mirror of the current workspace holds (speaking the default
    /// Notion-Version; hosted file URLs signed as a rendering now would sign them).
    pub fn expected(&self) -> Expected {
        self.expected_for(version::NotionVersion::default())
    }

    /// What an exact mirror speaking `version` holds (`archived` and the meeting-notes
    /// block name differ between versions; hosted file URLs signed as a rendering now
    /// would sign them).
    pub fn expected_for(&self, version: version::NotionVersion) -> Expected {
        let mut e = expected::build::expected(&lock(&self.inner.ws), version);
        let ttl = self.knobs().file_url_ttl;
        let sign = |v: &mut serde_json::Value| self.inner.files.sign(v, ttl);
        e.pages.values_mut().for_each(|o| sign(&mut o.raw));
        e.databases.values_mut().for_each(|o| sign(&mut o.raw));
        e.data_sources.values_mut().for_each(|o| sign(&mut o.raw));
        e.blocks.values_mut().for_each(|b| sign(&mut b.raw));
        e
    }

    /// The fewest requests a complete cold sync of the current workspace needs.
    pub fn floor(&self) -> Floor {
        let cap = self.knobs().max_query_rows;
        floor::floor(&lock(&self.inner.ws), cap)
    }

    /// Read access to the workspace (do not call other `Sim` methods inside `f`).
    pub fn read<R>(&self, f: impl FnOnce(&Workspace) -> R) -> R {
        f(&lock(&self.inner.ws))
    }

    /// Stops serving (in-flight requests get up to two seconds) and the webhook sender.
    pub async fn shutdown(self) {
        self.inner.shutdown.cancel();
        let handle = lock(&self.inner.server).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        let sender = lock(&self.inner.webhooks).take();
        if let Some(w) = sender {
            w.shutdown();
        }
    }
}
