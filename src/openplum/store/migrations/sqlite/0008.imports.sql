-- depends: 0004.jobs
-- CSV imports (multi with createJob): how far each import job has got, and its rows that failed or were warned
-- about. Both are written in the transaction of the batch of rows they describe, so a job resumed after a crash
-- starts after the last batch that committed; both are deleted when the job finishes.
CREATE TABLE import_progress (
    job_id TEXT PRIMARY KEY,
    rows_done BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    failures BIGINT NOT NULL
);
CREATE TABLE import_rows (
    job_id TEXT NOT NULL,
    row_no BIGINT NOT NULL,
    success INTEGER NOT NULL,
    answer BLOB NOT NULL,
    PRIMARY KEY (job_id, row_no)
);
