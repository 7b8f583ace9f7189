//! The schema's history: one numbered sequence of migrations, each written for both
//! backends, so a change cannot be made to one and forgotten for the other (and the
//! `schema` test compares the two migrated schemas). Version N is entry N - 1 on both.
//!
//! PostgreSQL support began at version 14: its version 14 creates the whole schema as it
//! was then, so versions 1 to 13 have nothing of their own there (`postgres: None`).

/// One schema change.
pub(super) struct Migration {
    /// The statements on SQLite.
    pub sqlite: &'static str,
    /// The statements on PostgreSQL; `None` where the PostgreSQL baseline (14) covers it.
    pub postgres: Option<&'static str>,
}

/// Every migration, oldest first.
pub(super) const MIGRATIONS: &[Migration] = &[
    // 1
    Migration { sqlite: "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;", postgres: None },
    // 2
    Migration {
        sqlite: "CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token TEXT NOT NULL,
        token_sha256 BLOB NOT NULL UNIQUE,
        state TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        test_event_id TEXT,
        mapping_json TEXT NOT NULL DEFAULT '[]',
        deleted_at_ms INTEGER
    ) STRICT;
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks(id),
        received_at_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        stage TEXT,
        reason TEXT,
        payload BLOB NOT NULL
    ) STRICT;
    CREATE INDEX events_by_webhook ON events(webhook_id, id);
    CREATE INDEX events_by_status ON events(status, id);",
        postgres: None,
    },
    // 3
    Migration {
        sqlite: "CREATE TABLE objects (
        name TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        builtin INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    INSERT INTO objects (name, label, builtin) VALUES
        ('contacts', 'Contacts', 1), ('companies', 'Companies', 1),
        ('deals', 'Deals', 1), ('tickets', 'Tickets', 1);
    CREATE TABLE properties (
        object TEXT NOT NULL REFERENCES objects(name),
        name TEXT NOT NULL,
        label TEXT NOT NULL,
        type TEXT NOT NULL,
        options_json TEXT NOT NULL DEFAULT '[]',
        is_unique INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (object, name)
    ) STRICT;
    CREATE TABLE records (
        id TEXT PRIMARY KEY,
        object TEXT NOT NULL REFERENCES objects(name),
        properties_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX records_by_object ON records(object, id);
    -- One row per unique property value: the store enforces uniqueness, and matching is
    -- one indexed lookup.
    CREATE TABLE record_unique_values (
        object TEXT NOT NULL,
        property TEXT NOT NULL,
        value TEXT NOT NULL,
        record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        PRIMARY KEY (object, property, value)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX unique_values_by_record ON record_unique_values(record_id);",
        postgres: None,
    },
    // 4
    Migration {
        sqlite: "ALTER TABLE webhooks ADD COLUMN transforms_json TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE webhooks ADD COLUMN match_json TEXT;
    ALTER TABLE events ADD COLUMN detail_json TEXT;
    ALTER TABLE events ADD COLUMN matched_record_id TEXT;
    CREATE TABLE workflows (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        object TEXT NOT NULL REFERENCES objects(name),
        enabled INTEGER NOT NULL,
        reenroll INTEGER NOT NULL,
        triggers_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE enrollments (
        id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        record_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        enrolled_at_ms INTEGER NOT NULL,
        -- Processing an event twice never enrolls twice.
        UNIQUE (workflow_id, event_id, record_id)
    ) STRICT;
    CREATE INDEX enrollments_by_record ON enrollments(workflow_id, record_id);
    CREATE TABLE plugins (
        name TEXT PRIMARY KEY,
        world TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        uploaded_at_ms INTEGER NOT NULL
    ) STRICT;",
        postgres: None,
    },
    // 5
    Migration {
        sqlite: "ALTER TABLE events ADD COLUMN delivery_id TEXT;
    -- One original per delivery id and webhook; redeliveries are kept as `duplicate` rows.
    CREATE UNIQUE INDEX events_by_delivery ON events(webhook_id, delivery_id)
        WHERE delivery_id IS NOT NULL AND status != 'duplicate';
    ALTER TABLE webhooks ADD COLUMN dedup_json TEXT NOT NULL DEFAULT '{\"header\":\"webhook-id\"}';",
        postgres: None,
    },
    // 6
    Migration {
        sqlite: "CREATE TABLE imports (
        id TEXT PRIMARY KEY,
        object TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        spool_path TEXT NOT NULL,
        bytes_total INTEGER NOT NULL,
        -- Progress commits with each chunk of rows, so a restart resumes after the last one.
        bytes_done INTEGER NOT NULL DEFAULT 0,
        lines_done INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        errors_json TEXT NOT NULL DEFAULT '[]',
        started_at_ms INTEGER NOT NULL,
        finished_at_ms INTEGER
    ) STRICT;",
        postgres: None,
    },
    // 7
    Migration {
        sqlite: "ALTER TABLE workflows ADD COLUMN actions_json TEXT NOT NULL DEFAULT '[]';
    -- An enrollment runs its workflow's actions step by step; each step is appended to
    -- steps_json in the same commit as its effect, so a restart resumes after it.
    ALTER TABLE enrollments ADD COLUMN status TEXT NOT NULL DEFAULT 'completed';
    ALTER TABLE enrollments ADD COLUMN reason TEXT;
    ALTER TABLE enrollments ADD COLUMN trigger_json TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE enrollments ADD COLUMN steps_json TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE enrollments ADD COLUMN next_attempt_at_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE enrollments ADD COLUMN finished_at_ms INTEGER;
    CREATE INDEX enrollments_running ON enrollments(next_attempt_at_ms) WHERE status = 'running';
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        -- XChaCha20-Poly1305 under the data dir's key, the name as associated data.
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        updated_at_ms INTEGER NOT NULL
    ) STRICT;",
        postgres: None,
    },
    // 8
    Migration {
        sqlite: "-- Every component ever uploaded, by content: a workflow step runs the version it was
    -- saved with even after the plugin's name is given new bytes.
    CREATE TABLE plugin_versions (
        sha256 TEXT PRIMARY KEY,
        world TEXT NOT NULL,
        bytes BLOB NOT NULL,
        uploaded_at_ms INTEGER NOT NULL
    ) STRICT;
    INSERT OR IGNORE INTO plugin_versions (sha256, world, bytes, uploaded_at_ms)
        SELECT sha256, world, bytes, uploaded_at_ms FROM plugins;",
        postgres: None,
    },
    // 9
    Migration {
        sqlite: "-- The sender check: scheme and tolerance; its secrets are sealed in `secrets`.
    ALTER TABLE webhooks ADD COLUMN signature_json TEXT;",
        postgres: None,
    },
    // 10
    Migration {
        sqlite: "-- Per-webhook request rate limit; NULL means the default.
    ALTER TABLE webhooks ADD COLUMN rate_limit_json TEXT;",
        postgres: None,
    },
    // 11
    Migration {
        sqlite: "-- Token rotation: the replaced token keeps working until its grace period ends.
    ALTER TABLE webhooks ADD COLUMN previous_token_sha256 BLOB;
    ALTER TABLE webhooks ADD COLUMN previous_token_expires_ms INTEGER;
    CREATE INDEX webhooks_previous_token ON webhooks (previous_token_sha256)
        WHERE previous_token_sha256 IS NOT NULL;",
        postgres: None,
    },
    // 12
    Migration {
        sqlite: "-- The pipeline takes each webhook's waiting events apart (a fair share per webhook), so
    -- it finds them per webhook; only waiting events are in this index, so it stays small.
    CREATE INDEX events_waiting ON events(webhook_id, id) WHERE status = 'accepted';",
        postgres: None,
    },
    // 13
    Migration {
        sqlite: "-- A re-enrolling workflow asks, per event, whether the record has a run going; without
    -- this it walked every past enrollment of the record, slower with each (found by the
    -- soak: a contact re-enrolled hundreds of times).
    CREATE INDEX enrollments_running_by_record ON enrollments(workflow_id, record_id) WHERE status = 'running';",
        postgres: None,
    },
    // 14
    Migration {
        sqlite: "-- The id of the HTTP request that delivered the event (X-Request-Id), to find its log lines.
    ALTER TABLE events ADD COLUMN request_id TEXT;",
        postgres: Some(
            r#"
    CREATE TABLE webhooks (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        token TEXT NOT NULL,
        token_sha256 BYTEA NOT NULL UNIQUE,
        state TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        test_event_id TEXT COLLATE "C",
        mapping_json TEXT NOT NULL DEFAULT '[]',
        deleted_at_ms BIGINT,
        transforms_json TEXT NOT NULL DEFAULT '[]',
        match_json TEXT,
        dedup_json TEXT NOT NULL DEFAULT '{"header":"webhook-id"}',
        signature_json TEXT,
        rate_limit_json TEXT,
        previous_token_sha256 BYTEA,
        previous_token_expires_ms BIGINT
    );
    CREATE INDEX webhooks_previous_token ON webhooks (previous_token_sha256)
        WHERE previous_token_sha256 IS NOT NULL;
    CREATE TABLE events (
        id TEXT COLLATE "C" PRIMARY KEY,
        webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks(id),
        received_at_ms BIGINT NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        stage TEXT,
        reason TEXT,
        payload BYTEA NOT NULL,
        detail_json TEXT,
        matched_record_id TEXT COLLATE "C",
        delivery_id TEXT COLLATE "C",
        request_id TEXT
    );
    CREATE INDEX events_by_webhook ON events (webhook_id, id);
    CREATE INDEX events_by_status ON events (status, id);
    CREATE UNIQUE INDEX events_by_delivery ON events (webhook_id, delivery_id)
        WHERE delivery_id IS NOT NULL AND status <> 'duplicate';
    CREATE INDEX events_waiting ON events (webhook_id, id) WHERE status = 'accepted';
    CREATE TABLE objects (
        name TEXT COLLATE "C" PRIMARY KEY,
        label TEXT NOT NULL,
        builtin BIGINT NOT NULL DEFAULT 0
    );
    INSERT INTO objects (name, label, builtin) VALUES
        ('contacts', 'Contacts', 1), ('companies', 'Companies', 1),
        ('deals', 'Deals', 1), ('tickets', 'Tickets', 1);
    CREATE TABLE properties (
        -- SQLite's implicit rowid made explicit: properties list in the order defined.
        rowid BIGSERIAL,
        object TEXT COLLATE "C" NOT NULL REFERENCES objects(name),
        name TEXT COLLATE "C" NOT NULL,
        label TEXT NOT NULL,
        type TEXT NOT NULL,
        options_json TEXT NOT NULL DEFAULT '[]',
        is_unique BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (object, name)
    );
    CREATE TABLE records (
        id TEXT COLLATE "C" PRIMARY KEY,
        object TEXT COLLATE "C" NOT NULL REFERENCES objects(name),
        properties_json TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
    );
    CREATE INDEX records_by_object ON records (object, id);
    CREATE TABLE record_unique_values (
        object TEXT COLLATE "C" NOT NULL,
        property TEXT COLLATE "C" NOT NULL,
        value TEXT COLLATE "C" NOT NULL,
        record_id TEXT COLLATE "C" NOT NULL REFERENCES records(id) ON DELETE CASCADE,
        PRIMARY KEY (object, property, value)
    );
    CREATE INDEX unique_values_by_record ON record_unique_values (record_id);
    CREATE TABLE workflows (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        object TEXT COLLATE "C" NOT NULL REFERENCES objects(name),
        enabled BIGINT NOT NULL,
        reenroll BIGINT NOT NULL,
        triggers_json TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        actions_json TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE enrollments (
        id TEXT COLLATE "C" PRIMARY KEY,
        workflow_id TEXT COLLATE "C" NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
        record_id TEXT COLLATE "C" NOT NULL,
        event_id TEXT COLLATE "C" NOT NULL,
        enrolled_at_ms BIGINT NOT NULL,
        status TEXT COLLATE "C" NOT NULL DEFAULT 'completed',
        reason TEXT,
        trigger_json TEXT NOT NULL DEFAULT '{}',
        steps_json TEXT NOT NULL DEFAULT '[]',
        next_attempt_at_ms BIGINT NOT NULL DEFAULT 0,
        finished_at_ms BIGINT,
        -- Processing an event twice, on one node or two, never enrolls twice.
        UNIQUE (workflow_id, event_id, record_id)
    );
    CREATE INDEX enrollments_by_record ON enrollments (workflow_id, record_id);
    CREATE INDEX enrollments_running ON enrollments (next_attempt_at_ms) WHERE status = 'running';
    CREATE INDEX enrollments_running_by_record ON enrollments (workflow_id, record_id) WHERE status = 'running';
    CREATE TABLE plugins (
        name TEXT COLLATE "C" PRIMARY KEY,
        world TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        bytes BYTEA NOT NULL,
        uploaded_at_ms BIGINT NOT NULL
    );
    CREATE TABLE plugin_versions (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        world TEXT NOT NULL,
        bytes BYTEA NOT NULL,
        uploaded_at_ms BIGINT NOT NULL
    );
    CREATE TABLE secrets (
        name TEXT COLLATE "C" PRIMARY KEY,
        nonce BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL,
        updated_at_ms BIGINT NOT NULL
    );
    CREATE TABLE imports (
        id TEXT COLLATE "C" PRIMARY KEY,
        object TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        spool_path TEXT NOT NULL,
        bytes_total BIGINT NOT NULL,
        bytes_done BIGINT NOT NULL DEFAULT 0,
        lines_done BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        errors_json TEXT NOT NULL DEFAULT '[]',
        started_at_ms BIGINT NOT NULL,
        finished_at_ms BIGINT
    );
"#,
        ),
    },
    // 15
    Migration {
        sqlite: "-- Claims of several nodes on a shared (PostgreSQL) database; one process owns a SQLite
    -- file and never sets them, but the store's statements clear them on both.
    ALTER TABLE events ADD COLUMN claimed_by TEXT;
    ALTER TABLE events ADD COLUMN lease_until_ms INTEGER;
    ALTER TABLE enrollments ADD COLUMN claimed_by TEXT;
    ALTER TABLE enrollments ADD COLUMN lease_until_ms INTEGER;",
        postgres: Some(
            r#"
    -- Several nodes drain one database: a node claims the events and enrollments it works
    -- on for a lease; a claim whose lease ran out (its node died) is taken over.
    ALTER TABLE events ADD COLUMN claimed_by TEXT;
    ALTER TABLE events ADD COLUMN lease_until_ms BIGINT;
    ALTER TABLE enrollments ADD COLUMN claimed_by TEXT;
    ALTER TABLE enrollments ADD COLUMN lease_until_ms BIGINT;
    -- Two nodes enrolling one record concurrently: the second insert does nothing. A
    -- record runs one enrollment of a workflow at a time, and enrolls once per workflow
    -- unless the workflow re-enrolls (once_key is then NULL, which never collides).
    CREATE UNIQUE INDEX enrollments_one_running ON enrollments (workflow_id, record_id) WHERE status = 'running';
    ALTER TABLE enrollments ADD COLUMN once_key TEXT COLLATE "C";
    CREATE UNIQUE INDEX enrollments_once ON enrollments (workflow_id, once_key);
"#,
        ),
    },
    // 16
    Migration {
        sqlite: "-- Retention: a webhook's own (NULL: the server's default), and ended enrollments found
    -- by when they ended. An enrollment of a workflow that does not re-enroll keeps its row
    -- (it is what says the record enrolled once) but loses its log; log_pruned takes it
    -- out of the index so the pruner does not walk it again.
    ALTER TABLE webhooks ADD COLUMN retention_ms INTEGER;
    ALTER TABLE enrollments ADD COLUMN log_pruned INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX enrollments_ended ON enrollments(finished_at_ms) WHERE finished_at_ms IS NOT NULL AND log_pruned = 0;",
        postgres: Some(
            r#"
    ALTER TABLE webhooks ADD COLUMN retention_ms BIGINT;
    ALTER TABLE enrollments ADD COLUMN log_pruned BIGINT NOT NULL DEFAULT 0;
    CREATE INDEX enrollments_ended ON enrollments (finished_at_ms) WHERE finished_at_ms IS NOT NULL AND log_pruned = 0;
"#,
        ),
    },
    // 17
    Migration {
        sqlite: "-- The ingest log's position the database has applied (one row; see store/ingest_log.rs).
    CREATE TABLE ingest_log_applied (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);",
        postgres: Some(
            r#"
    -- Unused on PostgreSQL (nodes acknowledge after their own commit); kept so both
    -- backends count the same migrations.
    CREATE TABLE ingest_log_applied (id BIGINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
"#,
        ),
    },
    // 18
    Migration {
        sqlite: "-- The nodes serving from this database (one on SQLite): what each heartbeat says.
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        address TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at_ms INTEGER NOT NULL,
        heartbeat_at_ms INTEGER NOT NULL,
        stopped_at_ms INTEGER,
        events_received INTEGER NOT NULL,
        events_processed INTEGER NOT NULL,
        steps_run INTEGER NOT NULL,
        rows_imported INTEGER NOT NULL
    ) STRICT;
    -- A webhook's rate limit shared by the nodes (unused on SQLite: one node's bucket is
    -- in its memory; kept so both backends count the same migrations).
    CREATE TABLE rate_buckets (
        webhook_id TEXT PRIMARY KEY,
        micro_tokens INTEGER NOT NULL,
        micro_granted INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    ) STRICT;",
        postgres: Some(
            r#"
    -- The nodes serving from this database: what each heartbeat says (GET /nodes).
    CREATE TABLE nodes (
        id TEXT COLLATE "C" PRIMARY KEY,
        version TEXT NOT NULL,
        address TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        started_at_ms BIGINT NOT NULL,
        heartbeat_at_ms BIGINT NOT NULL,
        stopped_at_ms BIGINT,
        events_received BIGINT NOT NULL,
        events_processed BIGINT NOT NULL,
        steps_run BIGINT NOT NULL,
        rows_imported BIGINT NOT NULL
    );
    -- A webhook's rate limit shared by the nodes: the tokens left (in millionths, so
    -- fractional rates refill exactly in integers), refilled by the time since the last
    -- grant; nodes take them in small grants (ingest/limits.rs).
    CREATE TABLE rate_buckets (
        webhook_id TEXT COLLATE "C" PRIMARY KEY,
        micro_tokens BIGINT NOT NULL,
        micro_granted BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL
    );
"#,
        ),
    },
    // 19
    Migration {
        sqlite: "-- Records listed by last update (GET /objects/{object}/records?sort=-updated).
    CREATE INDEX records_by_updated ON records(object, updated_at_ms, id);
    -- The events matched to a record (its page; GET /events?record=).
    CREATE INDEX events_by_record ON events(matched_record_id, id) WHERE matched_record_id IS NOT NULL;",
        postgres: Some(
            r#"
    -- Records listed by last update (GET /objects/{object}/records?sort=-updated).
    CREATE INDEX records_by_updated ON records (object, updated_at_ms, id);
    -- The events matched to a record (its page; GET /events?record=).
    CREATE INDEX events_by_record ON events (matched_record_id, id) WHERE matched_record_id IS NOT NULL;
"#,
        ),
    },
    // 20
    Migration {
        sqlite: "-- CSV imports beside NDJSON: the file's format and, for CSV, which column fills which
    -- property (JSON [{column, property}]), fixed when the import starts so a resume reads alike.
    ALTER TABLE imports ADD COLUMN format TEXT NOT NULL DEFAULT 'ndjson';
    ALTER TABLE imports ADD COLUMN columns_json TEXT;",
        postgres: Some(
            r#"
    -- CSV imports beside NDJSON (as on SQLite).
    ALTER TABLE imports ADD COLUMN format TEXT NOT NULL DEFAULT 'ndjson';
    ALTER TABLE imports ADD COLUMN columns_json TEXT;
    -- The unique enrollments_one_running (migration 15) has the same columns and predicate:
    -- the copy cost every enrollment insert and status change an index entry and served no
    -- read (wasmhook-bench nodes: 0.071 -> 0.062 ms of PostgreSQL CPU per drained event).
    DROP INDEX enrollments_running_by_record;
"#,
        ),
    },
    // 21
    Migration {
        sqlite: "-- Per-minute counts (tally.rs): a webhook's events by status, latency and transform
    -- histograms, a workflow's failed enrollments, breakers that opened; added to by every flush.
    CREATE TABLE tallies (
        subject TEXT NOT NULL,
        minute INTEGER NOT NULL,
        what TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (subject, minute, what)
    ) STRICT;
    CREATE INDEX tallies_by_minute ON tallies(minute);
    -- Alerts: where an admin is told of trouble, and of which kinds (JSON), over which window.
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        kinds_json TEXT NOT NULL,
        webhook_id TEXT,
        created_at_ms INTEGER NOT NULL
    ) STRICT;
    -- Each alert sent (or to send): one per alert, kind and subject per window (slot =
    -- fired_at_ms / window_ms, unique, so two nodes cannot both send one).
    CREATE TABLE alert_firings (
        id TEXT PRIMARY KEY,
        alert_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        slot INTEGER NOT NULL,
        fired_at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at_ms INTEGER NOT NULL,
        last_error TEXT,
        delivered_at_ms INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX alert_firings_once ON alert_firings(alert_id, kind, subject, slot);
    CREATE INDEX alert_firings_last ON alert_firings(alert_id, kind, subject, fired_at_ms);
    CREATE INDEX alert_firings_due ON alert_firings(next_attempt_at_ms) WHERE status = 'pending';",
        postgres: Some(
            r#"
    -- Per-minute counts, alerts and their firings (as on SQLite).
    CREATE TABLE tallies (
        subject TEXT COLLATE "C" NOT NULL,
        minute BIGINT NOT NULL,
        what TEXT COLLATE "C" NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (subject, minute, what)
    );
    CREATE INDEX tallies_by_minute ON tallies (minute);
    CREATE TABLE alerts (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        window_ms BIGINT NOT NULL,
        kinds_json TEXT NOT NULL,
        webhook_id TEXT COLLATE "C",
        created_at_ms BIGINT NOT NULL
    );
    CREATE TABLE alert_firings (
        id TEXT COLLATE "C" PRIMARY KEY,
        alert_id TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        subject TEXT COLLATE "C" NOT NULL,
        slot BIGINT NOT NULL,
        fired_at_ms BIGINT NOT NULL,
        body TEXT NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_at_ms BIGINT NOT NULL,
        last_error TEXT,
        delivered_at_ms BIGINT
    );
    CREATE UNIQUE INDEX alert_firings_once ON alert_firings (alert_id, kind, subject, slot);
    CREATE INDEX alert_firings_last ON alert_firings (alert_id, kind, subject, fired_at_ms);
    CREATE INDEX alert_firings_due ON alert_firings (next_attempt_at_ms) WHERE status = 'pending';
"#,
        ),
    },
    // 22
    Migration {
        // SQLite rewrites a row in place.
        sqlite: "",
        // Room on each page for a claimed copy of all its events: a claim sets no indexed
        // column, so with room it is a heap-only update that adds nothing to the five
        // indexes. A claim takes consecutive events, a page's worth at once, so the room
        // must match what the page holds: `wasmhook-bench nodes --most-nodes 1`, three runs
        // each, PostgreSQL CPU per drained event 0.070-0.076 ms at the default (100),
        // 0.071-0.077 at 70, 0.054-0.059 at 50 (drain 10.4-11.3k -> 13.3-14.2k events/s).
        // The cost: fresh events take twice the heap pages (indexes unchanged).
        postgres: Some("ALTER TABLE events SET (fillfactor = 50);"),
    },
    // 23
    Migration {
        // SQLite checks a foreign key with one seek of the parent's index, cheaply.
        sqlite: "",
        // PostgreSQL checks one with a query per inserted row, run by a trigger: every
        // stored event asked for its webhook, every enrollment for its workflow. The store
        // keeps both relations itself: webhooks are never deleted (only marked), and a
        // workflow's deletion deletes its enrollments in the same transaction (an
        // enrollment a node commits for a workflow deleted meanwhile fails when its step
        // finds no workflow, and retention removes it once ended). Measured on 10,000
        // enrollments inserted 250 a statement: 115 ms with the key, 89 without.
        postgres: Some(
            "ALTER TABLE enrollments DROP CONSTRAINT IF EXISTS enrollments_workflow_id_fkey;
             ALTER TABLE events DROP CONSTRAINT IF EXISTS events_webhook_id_fkey;",
        ),
    },
];
