-- notion-mirror: the mirror schema (public contract, docs/reference/schema.md).
--
-- This file is the source of truth and is embedded in the binary. It is split into
-- migrations by the `-- migration: N` markers; the database's `PRAGMA user_version` records
-- the last one applied. Never edit an applied migration: append a new one.
--
-- Conventions: ids are lowercase dashed UUIDs; `raw` is the object's JSON as the API returned
-- it (page properties truncated by the API completed through the property-item endpoint,
-- `request_id` removed); times are the API's ISO-8601 strings; booleans are 0/1.
-- Columns marked "extension" go beyond the original contract table (docs/reference/schema.md).

-- migration: 1

-- Pages, including data source rows (`data_source_id` set) and trashed pages (in_trash = 1).
CREATE TABLE pages (
    id                  TEXT PRIMARY KEY,
    raw                 TEXT NOT NULL,
    parent_type         TEXT NOT NULL,      -- the API's parent.type verbatim
    parent_id           TEXT,               -- the id it names (rows: the data source)
    data_source_id      TEXT,               -- NULL if the page is not a data source row
    title               TEXT NOT NULL DEFAULT '',
    url                 TEXT,
    created_time        TEXT NOT NULL,
    last_edited_time    TEXT NOT NULL,
    in_trash            INTEGER NOT NULL DEFAULT 0,
    synced_at           TEXT NOT NULL,
    -- extension: the page's last_edited_time when its block tree and comments were last
    -- fetched, and when that fetch started (our clock). NULL: content never fetched.
    content_edited_time TEXT,
    content_synced_at   TEXT
);
CREATE INDEX pages_data_source ON pages (data_source_id);
CREATE INDEX pages_parent ON pages (parent_id);
CREATE INDEX pages_last_edited ON pages (last_edited_time);

-- Databases: containers of one or more data sources (no schema of their own).
CREATE TABLE databases (
    id               TEXT PRIMARY KEY,
    raw              TEXT NOT NULL,
    parent_type      TEXT NOT NULL,
    parent_id        TEXT,
    title            TEXT NOT NULL DEFAULT '',
    in_trash         INTEGER NOT NULL DEFAULT 0,
    last_edited_time TEXT NOT NULL,
    synced_at        TEXT NOT NULL
);

-- Data sources: `raw` holds the property schema (`raw ->> '$.properties'`).
CREATE TABLE data_sources (
    id               TEXT PRIMARY KEY,
    raw              TEXT NOT NULL,
    database_id      TEXT,
    title            TEXT NOT NULL DEFAULT '',
    in_trash         INTEGER NOT NULL DEFAULT 0,
    last_edited_time TEXT NOT NULL,
    synced_at        TEXT NOT NULL,
    view_name        TEXT                   -- extension: the typed view built for it
);
CREATE INDEX data_sources_database ON data_sources (database_id);

-- One row per page property, rendered for SQL.
CREATE TABLE property_values (
    page_id     TEXT NOT NULL,
    property_id TEXT NOT NULL,              -- URL-encoded, as the API sends it
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       TEXT,                       -- JSON: the property's inner value for its type
    text        TEXT,                       -- plain-text rendering
    number      REAL,
    date_start  TEXT,
    date_end    TEXT,
    scalar,                                 -- extension: the typed view's column value
                                            -- (no declared type: values keep their own type)
    PRIMARY KEY (page_id, property_id)
) WITHOUT ROWID;
CREATE INDEX property_values_property ON property_values (property_id);

-- Page content: every block of a page's tree (not into child pages/databases).
CREATE TABLE blocks (
    id           TEXT PRIMARY KEY,
    raw          TEXT NOT NULL,
    page_id      TEXT NOT NULL,             -- the page whose content it is
    parent_id    TEXT NOT NULL,             -- the page or block listing it as a child
    position     INTEGER NOT NULL,          -- 0-based order among its siblings
    type         TEXT NOT NULL,
    has_children INTEGER NOT NULL DEFAULT 0,
    text         TEXT NOT NULL DEFAULT '',
    in_trash     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blocks_page ON blocks (page_id);
CREATE INDEX blocks_parent ON blocks (parent_id, position);

-- Open (unresolved) comments on pages and blocks.
CREATE TABLE comments (
    id               TEXT PRIMARY KEY,
    raw              TEXT NOT NULL,
    page_id          TEXT NOT NULL,
    parent_type      TEXT NOT NULL,         -- page_id | block_id
    parent_id        TEXT NOT NULL,
    discussion_id    TEXT,
    text             TEXT NOT NULL DEFAULT '',
    created_time     TEXT NOT NULL,
    last_edited_time TEXT,
    created_by       TEXT
);
CREATE INDEX comments_page ON comments (page_id);
CREATE INDEX comments_parent ON comments (parent_id);

CREATE TABLE users (
    id    TEXT PRIMARY KEY,
    raw   TEXT NOT NULL,
    type  TEXT,                             -- person | bot
    name  TEXT,
    email TEXT
);

-- What left the mirror and why (not_found, restricted, not_listed, parent_removed).
CREATE TABLE tombstones (
    object     TEXT NOT NULL,               -- page | database | data_source | comment | user
    id         TEXT NOT NULL,
    removed_at TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (object, id)
) WITHOUT ROWID;

-- The webhook delivery log Notion itself does not offer.
CREATE TABLE webhook_events (
    id             TEXT PRIMARY KEY,        -- the event id (deliveries are idempotent on it)
    raw            TEXT NOT NULL,           -- the request body as received
    type           TEXT NOT NULL,
    entity_type    TEXT,
    entity_id      TEXT,
    timestamp      TEXT,
    attempt_number INTEGER,
    received_at    TEXT NOT NULL,
    status         TEXT NOT NULL,           -- queued | done | ignored | failed
    error          TEXT
);
-- Events still waiting for their work, in arrival order (the worker marks them done by
-- entity among these): inserts append, and finished events leave the index.
CREATE INDEX webhook_events_open ON webhook_events (received_at)
    WHERE status IN ('queued', 'failed');
CREATE INDEX webhook_events_received ON webhook_events (received_at);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,              -- full | incremental | presence | resync
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    requests    INTEGER NOT NULL DEFAULT 0,
    objects     INTEGER NOT NULL DEFAULT 0, -- objects written (changed or new)
    removed     INTEGER NOT NULL DEFAULT 0, -- extension: objects removed (tombstoned)
    error       TEXT
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Full-text search over page titles, block text and comment text. Kept in step by the
-- triggers below; rowid = source rowid * 4 + (0 page | 1 block | 2 comment).
CREATE VIRTUAL TABLE search USING fts5 (
    object UNINDEXED,                       -- page | block | comment
    id UNINDEXED,
    page_id UNINDEXED,
    text,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER pages_search_insert AFTER INSERT ON pages BEGIN
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4, 'page', new.id, new.id, new.title);
END;
CREATE TRIGGER pages_search_update AFTER UPDATE OF title ON pages BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4;
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4, 'page', new.id, new.id, new.title);
END;
CREATE TRIGGER pages_search_delete AFTER DELETE ON pages BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4;
END;

CREATE TRIGGER blocks_search_insert AFTER INSERT ON blocks BEGIN
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4 + 1, 'block', new.id, new.page_id, new.text);
END;
CREATE TRIGGER blocks_search_update AFTER UPDATE OF text, page_id ON blocks BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4 + 1;
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4 + 1, 'block', new.id, new.page_id, new.text);
END;
CREATE TRIGGER blocks_search_delete AFTER DELETE ON blocks BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4 + 1;
END;

CREATE TRIGGER comments_search_insert AFTER INSERT ON comments BEGIN
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4 + 2, 'comment', new.id, new.page_id, new.text);
END;
CREATE TRIGGER comments_search_update AFTER UPDATE OF text, page_id ON comments BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4 + 2;
    INSERT INTO search (rowid, object, id, page_id, text)
    VALUES (new.rowid * 4 + 2, 'comment', new.id, new.page_id, new.text);
END;
CREATE TRIGGER comments_search_delete AFTER DELETE ON comments BEGIN
    DELETE FROM search WHERE rowid = old.rowid * 4 + 2;
END;

-- The durable work queue (src/queue/): one row per object, coalesced.
CREATE TABLE queue (
    kind         TEXT NOT NULL,             -- page | database | data_source | comment | users
    id           TEXT NOT NULL,
    reasons      INTEGER NOT NULL,          -- bit set, see src/queue/mod.rs
    blocks       TEXT,                      -- JSON array of block ids to refetch (page content)
    hint         TEXT,                      -- e.g. the page of a comment
    priority     INTEGER NOT NULL DEFAULT 0,-- 0 webhook, 1 sweep: lower runs first
    due_at       INTEGER NOT NULL,          -- unix ms
    state        TEXT NOT NULL DEFAULT 'pending', -- pending | running | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    lease_until  INTEGER,                   -- unix ms; set while running
    claimed_at   INTEGER,                   -- unix ms when the running attempt started
    next_reasons INTEGER NOT NULL DEFAULT 0,-- re-signalled while running: run once more
    next_blocks  TEXT,
    enqueued_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX queue_due ON queue (state, priority, due_at);

-- Typed views this program created (so it never drops a view a user made).
CREATE TABLE typed_views (
    name           TEXT PRIMARY KEY,
    data_source_id TEXT NOT NULL,
    sql            TEXT NOT NULL
) WITHOUT ROWID;

-- migration: 2
-- Converging under load (freshness model, ARCHITECTURE.md "Freshness model").

-- extension: the newest minute of a page's edits that webhook events named and whose named
-- work (the page object, or the blocks `updated_blocks` listed) is done. A sweep that sees
-- `last_edited_time` at or below it has nothing to refetch; while it is newer than
-- `content_edited_time` the tree has not been re-read as a whole since, and the presence
-- sweep re-reads it once (webhooks are at-most-once: a lost event can hide behind a later
-- one in the same page). NULL: no webhook-explained edit since the last whole-tree fetch.
ALTER TABLE pages ADD COLUMN events_edited_time TEXT;

-- extension: the newest webhook event timestamp merged into a queue row (what its run
-- will explain), and the sweep (`sync_runs.id`) that last queued work into it (the origin
-- of the work the row's run discovers).
ALTER TABLE queue ADD COLUMN signalled_at TEXT;
ALTER TABLE queue ADD COLUMN sweep_run INTEGER;

-- The objects each sweep queued work for, so a sweep knows when its own work is done
-- without waiting for anyone else's: a row goes when a run of its object that was claimed
-- after it was queued finishes (or parks); what is left when the sweep settles goes too.
CREATE TABLE sweep_items (
    run  INTEGER NOT NULL,                  -- sync_runs.id
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    at   INTEGER NOT NULL,                  -- unix ms the sweep queued it
    PRIMARY KEY (run, kind, id)
) WITHOUT ROWID;
CREATE INDEX sweep_items_object ON sweep_items (kind, id);

-- extension: sweeps are `incremental`, `presence`, `full` (the daily one) or `resync`
-- (SIGHUP / `notion-mirror resync`). `finished_at` is when its listings ended; `settled_at`
-- when the last work item it queued was done (its watermark moved then).
ALTER TABLE sync_runs ADD COLUMN settled_at TEXT;

-- migration: 5
-- Notion's 2026 API (docs/notion-2026.md, docs/views.md): database views mirrored, and
-- runnable as SQL; Custom Agents among users; page icons of every type rendered.

-- Database views (Views API): one row per view of a mirrored database. Filled by the full
-- sweep (views listed per database, each retrieved) and refreshed on `view.*` webhooks; a
-- view a direct GET can no longer read is removed with a tombstone.
CREATE TABLE views (
    id             TEXT PRIMARY KEY,
    raw            TEXT NOT NULL,
    database_id    TEXT,                    -- parent.database_id
    data_source_id TEXT,                    -- the data source it shows; NULL: a dashboard
    name           TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,           -- table, board, calendar, timeline, gallery,
                                            -- list, form, chart, map, dashboard
    filter         TEXT,                    -- JSON as Notion gives it; NULL: no filter
    sorts          TEXT,                    -- JSON array; NULL: no sorts
    synced_at      TEXT NOT NULL,
    sql_view       TEXT,                    -- extension: the SQL view `<typed view>__<view>`
    sql_note       TEXT                     -- extension: why there is none (the condition
                                            -- SQL cannot express exactly), or what it omits
);
CREATE INDEX views_database ON views (database_id);
CREATE INDEX views_data_source ON views (data_source_id);

-- SQL views this program created over Notion views (so it never drops a view a user made).
CREATE TABLE view_sql (
    name    TEXT PRIMARY KEY,
    view_id TEXT NOT NULL,
    sql     TEXT NOT NULL
) WITHOUT ROWID;

-- extension: a Custom Agent's id (bot users that are agents; changelog 2026-10-15).
-- `users.name` was always nullable: a person may have no name (upgrade guide 2026-12-01).
ALTER TABLE users ADD COLUMN agent_id TEXT;

-- extension: the page's icon as text — the emoji, `:name:` of a custom emoji, `name
-- (color)` of a native icon, the URL of an external or hosted image; NULL: none (and for
-- an icon type this version does not know; `raw ->> '$.icon'` has it).
ALTER TABLE pages ADD COLUMN icon TEXT;

-- migration: 6
-- Beyond one machine: restore-and-resume and an honest ETA (docs/replication.md).

-- extension: the watermark a sweep moves to once its work is done, recorded when its
-- listings end, so a daemon restarted (or started on a restored copy) before the sweep
-- settled can still settle it; `items` the work items of the sweep done so far and
-- `work_requests` the requests they made; `listed_items` and `listed_work_requests` the
-- same when its listings ended (the ETA's requests per item count the items done since:
-- those claimed while the listings ran are the first listed, not a random sample).
ALTER TABLE sync_runs ADD COLUMN watermark TEXT;
ALTER TABLE sync_runs ADD COLUMN items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN work_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN listed_items INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN listed_work_requests INTEGER NOT NULL DEFAULT 0;

-- migration: 7
-- Archived files (docs/files.md): every Notion-hosted file the mirror references, stored
-- once by content under `files/<first 2 hex of sha256>/<sha256>` beside the mirror.

-- One row per file, keyed by its URL without the query string (Notion re-signs hosted URLs
-- on every read; the path stays).
CREATE TABLE files (
    key                TEXT PRIMARY KEY,    -- the URL without its query string
    name               TEXT,                -- the name Notion shows (else the URL's last segment)
    sha256             TEXT,                -- of the stored bytes (lowercase hex)
    size               INTEGER,             -- bytes
    content_type       TEXT,                -- as the host answered it
    status             TEXT NOT NULL DEFAULT 'pending', -- pending | stored | failed | too_large
    attempts           INTEGER NOT NULL DEFAULT 0,
    error              TEXT,                -- the last failure, for `status` and humans
    stored_at          TEXT,
    -- extension: 1 for an external file archived on request (`files_external`)
    external           INTEGER NOT NULL DEFAULT 0,
    -- extension: unix ms of the next download attempt
    due_at             INTEGER NOT NULL DEFAULT 0,
    -- extension: sha256 of the signed URL the host last rejected (never retried as is: the
    -- parent object is refetched for a fresh one) and when that refetch was asked for
    rejected_url       TEXT,
    refetch_at         INTEGER,
    -- extension: when its last reference went (the daily sweep deletes it a day later)
    unreferenced_since TEXT
);
CREATE INDEX files_due ON files (status, due_at);
CREATE INDEX files_sha256 ON files (sha256);

-- Where each file is referenced. `object`: page | block | database | data_source;
-- `location`: property:<property id> | block | icon | cover.
CREATE TABLE file_refs (
    key       TEXT NOT NULL,
    object    TEXT NOT NULL,
    object_id TEXT NOT NULL,
    location  TEXT NOT NULL,
    PRIMARY KEY (key, object, object_id, location)
) WITHOUT ROWID;
CREATE INDEX file_refs_object ON file_refs (object, object_id);

-- An object that leaves the mirror takes its references with it, whichever code path
-- removed it.
CREATE TRIGGER pages_file_refs_delete AFTER DELETE ON pages BEGIN
    DELETE FROM file_refs WHERE object = 'page' AND object_id = old.id;
END;
CREATE TRIGGER blocks_file_refs_delete AFTER DELETE ON blocks BEGIN
    DELETE FROM file_refs WHERE object = 'block' AND object_id = old.id;
END;
CREATE TRIGGER databases_file_refs_delete AFTER DELETE ON databases BEGIN
    DELETE FROM file_refs WHERE object = 'database' AND object_id = old.id;
END;
CREATE TRIGGER data_sources_file_refs_delete AFTER DELETE ON data_sources BEGIN
    DELETE FROM file_refs WHERE object = 'data_source' AND object_id = old.id;
END;

-- A file's last reference going starts its day of grace; a new reference ends it.
CREATE TRIGGER file_refs_last_gone AFTER DELETE ON file_refs
WHEN NOT EXISTS (SELECT 1 FROM file_refs WHERE key = old.key) BEGIN
    UPDATE files SET unreferenced_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE key = old.key AND unreferenced_since IS NULL;
END;
CREATE TRIGGER file_refs_added AFTER INSERT ON file_refs BEGIN
    UPDATE files SET unreferenced_since = NULL
    WHERE key = new.key AND unreferenced_since IS NOT NULL;
END;

-- "Where is this file?": every reference with its page (a block's page; NULL for
-- databases and data sources) and where the blob is. `local_path` is absolute when the
-- process that archives files recorded its directory (setting `files.dir`), else relative
-- to the mirror's directory.
CREATE VIEW attachments AS
SELECT
    CASE r.object WHEN 'page' THEN r.object_id WHEN 'block' THEN b.page_id END AS page_id,
    p.title AS page_title,
    r.location,
    f.name,
    f.size,
    f.content_type,
    f.status,
    CASE WHEN f.status = 'stored' AND length(f.sha256) = 64 THEN
        coalesce((SELECT value FROM settings WHERE key = 'files.dir'), 'files')
        || '/' || substr(f.sha256, 1, 2) || '/' || f.sha256
    END AS local_path,
    r.object,
    r.object_id,
    f.key AS url,
    f.sha256
FROM file_refs r
JOIN files f ON f.key = r.key
LEFT JOIN blocks b ON r.object = 'block' AND b.id = r.object_id
LEFT JOIN pages p ON p.id = CASE r.object WHEN 'page' THEN r.object_id WHEN 'block' THEN b.page_id END;

-- migration: 8
-- History and change feed (docs/history.md): every version the mirror writes is kept as
-- a change row, written in the same transaction as the change itself.

-- One row per change of an object the mirror holds. A refetch that finds nothing
-- meaningful changed writes no row (re-signed file URLs, `expiry_time`, key order and
-- `last_edited_time` alone are not changes). `before` and `after` hold only the changed
-- fields, rendered like the typed views (select: the option name, checkbox 0/1, people and
-- relations: arrays of ids, ...).
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- monotonic, never reused (not even
                                                   -- after pruning)
    at          TEXT NOT NULL,              -- when the mirror wrote it (our clock)
    object      TEXT NOT NULL,              -- page | database | data_source | block |
                                            -- comment | user | view (extension)
    id          TEXT NOT NULL,
    page_id     TEXT,                       -- the page it belongs to: a page's own id, the
                                            -- page of a block or comment; NULL otherwise
    kind        TEXT NOT NULL,              -- created | updated | trashed | restored |
                                            -- moved | removed
    fields      TEXT NOT NULL,              -- JSON array: what changed (property names,
                                            -- title, in_trash, parent, icon, text, schema...)
    before      TEXT NOT NULL,              -- JSON object: those fields before ({} created)
    after       TEXT NOT NULL,              -- JSON object: those fields after ({} removed)
    edited_time TEXT,                       -- Notion's last_edited_time of the new version
    edited_by   TEXT,                       -- the user id, when the API says
    cause       TEXT                        -- webhook | incremental | presence | full |
                                            -- resync | sync
);
CREATE INDEX changes_id ON changes (id);
CREATE INDEX changes_page ON changes (page_id);

-- The common question: how did this page's properties change, when, and by whom. One row
-- per changed field of a page change (property names, in_trash, parent, icon, ...).
CREATE VIEW page_history AS
SELECT c.seq AS seq,
       c.at AS at,
       c.id AS page_id,
       p.title AS page_title,
       f.value AS field,
       (SELECT b.value FROM json_each(c.before) AS b WHERE b.key = f.value) AS before,
       (SELECT a.value FROM json_each(c.after) AS a WHERE a.key = f.value) AS after,
       coalesce(u.name, c.edited_by) AS edited_by,
       c.kind AS kind,
       c.cause AS cause
FROM changes AS c
JOIN json_each(c.fields) AS f
LEFT JOIN pages AS p ON p.id = c.id
LEFT JOIN users AS u ON u.id = c.edited_by
WHERE c.object = 'page';

-- Outbound webhook destinations (`[[outbound]]`) and how far each has been delivered.
CREATE TABLE outbound (
    destination      TEXT PRIMARY KEY,      -- its `name`, else its URL without the query
    url              TEXT NOT NULL,         -- scheme and host only (paths and queries often
                                            -- hold tokens: never stored or shown)
    cursor           INTEGER NOT NULL,      -- last seq handled: delivered (2xx) or filtered
                                            -- out; moves only after a 2xx
    active           INTEGER NOT NULL DEFAULT 1, -- configured in the running daemon
    delivered        INTEGER NOT NULL DEFAULT 0, -- changes delivered (2xx) so far
    last_delivery_at TEXT,
    failures         INTEGER NOT NULL DEFAULT 0, -- failed attempts since the last 2xx
    last_error       TEXT,
    last_error_at    TEXT,
    added_at         TEXT NOT NULL
) WITHOUT ROWID;
