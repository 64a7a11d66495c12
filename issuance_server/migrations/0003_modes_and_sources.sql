-- Mode state (survives restarts: a manual mode stays until ops releases it).
CREATE TABLE mode_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    mode    TEXT NOT NULL CHECK (mode IN ('normal', 'recovery', 'maintenance')),
    manual  INTEGER NOT NULL,
    since   TEXT NOT NULL,
    reason  TEXT NOT NULL
);
INSERT INTO mode_state VALUES (1, 'normal', 0, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'first start');

-- What each certificate printed came from: record versions (for reconciliation after recovery).
ALTER TABLE issuances ADD COLUMN record_versions TEXT NOT NULL DEFAULT '{}';
CREATE TABLE issuance_sources (
    serial   TEXT PRIMARY KEY REFERENCES issuances(serial),
    records  TEXT NOT NULL                  -- JSON: {"type/key": record as printed}
);
CREATE INDEX issuances_mode ON issuances(mode);
