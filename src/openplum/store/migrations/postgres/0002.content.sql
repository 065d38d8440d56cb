-- depends: 0001.initial
-- Content: variables (code defaults and team values), action definitions, audiences, A/B tests, the
-- per-app content version every process watches, management tokens and the audit log.
CREATE TABLE content_versions (
    app_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);

CREATE TABLE variables (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    default_value BYTEA,
    value BYTEA,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE action_definitions (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    doc BYTEA NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE audiences (
    app_id TEXT NOT NULL,
    audience_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    rule BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, audience_id),
    UNIQUE (app_id, name)
);

CREATE TABLE ab_tests (
    app_id TEXT NOT NULL,
    test_id BIGINT NOT NULL,
    doc BYTEA NOT NULL,
    state TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, test_id)
);

CREATE TABLE forced_variants (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    test_id BIGINT NOT NULL,
    variant_id BIGINT NOT NULL,
    PRIMARY KEY (app_id, device_id, test_id)
);

CREATE TABLE admin_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION
);

CREATE TABLE audit_log (
    seq BIGSERIAL PRIMARY KEY,
    app_id TEXT,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details BYTEA
);
CREATE INDEX audit_log_by_app ON audit_log (app_id, seq);
