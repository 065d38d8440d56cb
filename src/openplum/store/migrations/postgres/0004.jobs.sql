-- depends: 0002.content
-- Durable jobs (exports, CSV imports): claimed with a lease, so a job whose worker died is taken again.
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    params BYTEA NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    result BYTEA,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION,
    finished DOUBLE PRECISION
);
CREATE INDEX jobs_by_state ON jobs (state, created);
CREATE INDEX jobs_by_app ON jobs (app_id, created);
