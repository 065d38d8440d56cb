-- depends: 0004.jobs
-- Postbacks (addPostback): an app's postback definitions, its signing secret, and the outbox of deliveries.
-- Outbox rows are written in the transaction of the behaviour that caused them; a worker claims due rows with a
-- lease (``due`` doubles as the lease's end while a row is being sent), deletes them once delivered, and marks
-- them 'dead' after the last attempt. AUTOINCREMENT: ids are never reused, so receivers can deduplicate on them.
CREATE TABLE postbacks (
    postback_id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    channels TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX postbacks_by_app ON postbacks (app_id, postback_id);

CREATE TABLE postback_secrets (
    app_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created REAL NOT NULL
);

CREATE TABLE postback_outbox (
    delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id TEXT NOT NULL,
    postback_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    event BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX postback_outbox_due ON postback_outbox (state, due);
CREATE INDEX postback_outbox_by_app ON postback_outbox (app_id, state, delivery_id);
CREATE INDEX postback_outbox_by_postback ON postback_outbox (postback_id);
