-- One row the audit guard rewrites with synchronous=FULL before it signs a checkpoint: that commit fsyncs
-- the WAL, so every row committed before it (with synchronous=NORMAL) is on disk before it is signed.
CREATE TABLE durability_mark (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  TEXT NOT NULL
);
