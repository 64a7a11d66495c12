-- The monthly review of the operation logs: who reviewed which month, when, with what comment.
CREATE TABLE audit_reviews (
    month        TEXT PRIMARY KEY,                 -- YYYY-MM (JST)
    reviewed_by  TEXT NOT NULL,
    reviewed_at  TEXT NOT NULL,
    comment      TEXT NOT NULL
);

-- Erasure past retention: requested by one staff member, carried out only when an administrator who is
-- not the requester approves; what was erased is recorded here and in the audit trail.
CREATE TABLE purges (
    purge_id      INTEGER PRIMARY KEY,
    before        TEXT NOT NULL,                   -- YYYY-MM-DD (JST): records of earlier days go
    requested_by  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('requested', 'done', 'withdrawn')),
    approved_by   TEXT,
    done_at       TEXT,
    erased        TEXT                             -- JSON: counts and ranges
);
