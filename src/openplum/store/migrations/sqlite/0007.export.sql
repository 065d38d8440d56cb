-- depends: 0004.jobs
-- Raw exports (exportData, exportUsers). An export walks completed sessions by start time in pages (keyset on
-- start and id, never OFFSET) and fetches each page's states and events in bulk by session. The session index
-- grows at its right end; the two by-session indexes dirty one page per session's batch, like events_by_user.
CREATE INDEX sessions_export_order ON sessions (app_id, started, session_id);
CREATE INDEX events_by_session ON events (app_id, session_id);
CREATE INDEX states_by_session ON states (app_id, session_id);

-- The files an export wrote, served at /exports/{token}/{name} until ``expires`` and then deleted with their
-- blob. A row is written before its blob, so a crash mid-export leaves nothing the cleaner does not know of;
-- ``size`` stays NULL until the blob is complete, and only complete files are served.
CREATE TABLE export_files (
    token TEXT NOT NULL,
    name TEXT NOT NULL,
    app_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (token, name)
);
CREATE INDEX export_files_by_expiry ON export_files (expires);
