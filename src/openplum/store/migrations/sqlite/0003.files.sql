-- depends: 0002.content
-- Files (uploadFile/downloadFile): one row per (app, name) pointing at its bytes in the blob store, the blobs
-- a replacement or deletion left behind (removed from the blob store once that change has committed), and
-- server-wide secrets such as the key that signs file URLs (generated once, shared by every process).
CREATE TABLE files (
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, name)
);

CREATE TABLE file_garbage (
    storage_key TEXT PRIMARY KEY,
    since REAL NOT NULL
);
CREATE INDEX file_garbage_by_age ON file_garbage (since);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
);
