-- The foundation schema: apps, profiles, device index, behaviour history, replay keys.
CREATE TABLE apps (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    production_key TEXT NOT NULL,
    development_key TEXT NOT NULL,
    data_export_key TEXT NOT NULL,
    content_read_only_key TEXT NOT NULL,
    created REAL NOT NULL
);

CREATE TABLE profiles (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    doc BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, user_id)
) WITHOUT ROWID;

CREATE TABLE devices (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (app_id, device_id)
) WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices (app_id, user_id);

CREATE TABLE sessions (
    app_id TEXT NOT NULL,
    session_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT,
    started REAL NOT NULL,
    expires REAL NOT NULL,
    ended REAL,
    duration REAL,
    end_reason TEXT,
    dev_mode INTEGER NOT NULL DEFAULT 0,
    info BLOB NOT NULL,
    PRIMARY KEY (app_id, session_id)
);
CREATE INDEX sessions_by_user ON sessions (app_id, user_id);
CREATE INDEX sessions_open ON sessions (expires) WHERE ended IS NULL;

CREATE TABLE states (
    app_id TEXT NOT NULL,
    state_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT,
    session_id INTEGER,
    name TEXT NOT NULL,
    time REAL NOT NULL,
    duration REAL,
    info TEXT,
    params BLOB,
    PRIMARY KEY (app_id, state_id)
);
CREATE INDEX states_by_user ON states (app_id, user_id);

CREATE TABLE events (
    app_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    device_id TEXT,
    session_id INTEGER,
    state_id INTEGER,
    name TEXT NOT NULL,
    time REAL NOT NULL,
    received REAL NOT NULL,
    value REAL NOT NULL DEFAULT 0,
    currency TEXT,
    info TEXT,
    params BLOB,
    message_id TEXT,
    dev_mode INTEGER NOT NULL DEFAULT 0
);
-- No primary key: event ids are random 63-bit numbers (unique in practice) and nothing looks an event up by
-- id, while a random-key index would dirty one page per event on the hot write path.
CREATE INDEX events_by_user ON events (app_id, user_id);
CREATE INDEX events_by_received ON events (app_id, received);

CREATE TABLE ingest_keys (
    app_id TEXT NOT NULL,
    key BLOB NOT NULL,
    seen REAL NOT NULL,
    PRIMARY KEY (app_id, key)
) WITHOUT ROWID;
CREATE INDEX ingest_keys_by_seen ON ingest_keys (seen);

CREATE TABLE test_devices (
    app_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    email TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (app_id, device_id)
);

CREATE TABLE names (
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (app_id, kind, name)
) WITHOUT ROWID;
