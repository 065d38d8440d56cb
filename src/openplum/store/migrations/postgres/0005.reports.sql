-- depends: 0004.jobs
-- Reports (exportReport) read days of history by time for a few event names (requested events, purchases, goal
-- events, A/B exposures). The index grows at its right end for each name, so it costs the write path little.
-- Sessions by start time are served by sessions_export_order (0007.export), whose leading columns match.
CREATE INDEX events_by_name_time ON events (app_id, name, time);
