-- depends: 0010.events_unindexed_received
-- Profiles become an ordinary (rowid) table, found through the index of their primary key. In a WITHOUT ROWID
-- table the whole row is the B-tree's key: a profile longer than a page's share for one row (about 4 KB with
-- 16 KiB pages) sits whole in the interior pages too, and SQLite reads each such row in full to compare keys
-- while it searches, so one lookup of a user with a long history copied the document a dozen times (21 µs
-- against 9 for an 11 KB profile; the same for a 1 KB one).
CREATE TABLE profiles_by_rowid (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    doc BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
INSERT INTO profiles_by_rowid (app_id, user_id, doc, updated) SELECT app_id, user_id, doc, updated FROM profiles;
DROP TABLE profiles;
ALTER TABLE profiles_by_rowid RENAME TO profiles;
