-- Kiosk sessions in the database, not in a server's memory (issue 30): any node serves any step, and a
-- restart ends no session. Times are seconds since the epoch (the nodes' clocks, kept by NTP).
CREATE TABLE kiosk_sessions (
    session_id       TEXT PRIMARY KEY,
    kiosk_id         TEXT NOT NULL,
    nonce            TEXT NOT NULL,
    nonce_expires_at REAL NOT NULL,
    nonce_used       INTEGER NOT NULL DEFAULT 0,
    opened_at        REAL NOT NULL,
    last_seen_at     REAL NOT NULL,
    atena_no         TEXT,
    registration_id  INTEGER,
    ended            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX kiosk_sessions_by_kiosk ON kiosk_sessions (kiosk_id, opened_at);
