-- depends: 0009.app_settings
-- No query reads events by the time the server received them (exports go by session, reports by name and
-- client time), so the index on it only cost the hot write path one more B-tree insert per event.
DROP INDEX IF EXISTS events_by_received;
