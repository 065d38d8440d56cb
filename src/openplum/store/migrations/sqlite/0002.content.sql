-- depends: 0001.initial
-- Content: variables (code defaults and team values), action definitions, audiences, A/B tests, the
-- per-app content version every process watches, management tokens and the audit log.
CREATE TABLE content_versions (
    app_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated REAL NOT NULL
);

CREATE TABLE variables (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    default_value BLOB,
    value BLOB,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE action_definitions (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    doc BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE audiences (
    app_id TEXT NOT NULL,
    audience_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    rule BLOB NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, audience_id),
    UNIQUE (app_id, name)
);

CREATE TABLE ab_tests (
    app_id TEXT NOT NULL,
    test_id INTEGER NOT NULL,
    doc BLOB NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, test_id)
);

CREATE TABLE forced_variants (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    test_id INTEGER NOT NULL,
    variant_id INTEGER NOT NULL,
    PRIMARY KEY (app_id, device_id, test_id)
);

CREATE TABLE admin_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details BLOB
);
CREATE INDEX audit_log_by_app ON audit_log (app_id, seq);
