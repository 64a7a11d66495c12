-- Kiosk sessions in the database, not in a server's memory (issue 30): any node serves any step, and a
-- restart ends no session. Times are seconds since the epoch (the nodes' clocks, kept by NTP).
CREATE TABLE kiosk_sessions (
    session_id       TEXT COLLATE "C" PRIMARY KEY,
    kiosk_id         TEXT COLLATE "C" NOT NULL,
    nonce            TEXT COLLATE "C" NOT NULL,
    nonce_expires_at DOUBLE PRECISION NOT NULL,
    nonce_used       BIGINT NOT NULL DEFAULT 0,
    opened_at        DOUBLE PRECISION NOT NULL,
    last_seen_at     DOUBLE PRECISION NOT NULL,
    atena_no         TEXT COLLATE "C",
    registration_id  BIGINT,
    ended            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX kiosk_sessions_by_kiosk ON kiosk_sessions (kiosk_id, opened_at);
