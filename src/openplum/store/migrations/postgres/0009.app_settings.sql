-- depends: 0004.jobs
-- Per-app settings an operator changes through the management API (the export limits, for now): one JSON value
-- per (app, name). An app without a row follows the server's default for that setting.
CREATE TABLE app_settings (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BYTEA NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, name)
);
