-- Kiosks are identified by their TLS client certificate (from the kiosk CA), not by a bearer token: a
-- kiosk enrolled with a token must be enrolled again (konbini-ops kiosk-add) to get a certificate.
CREATE TABLE kiosks_v2 (
    kiosk_id        TEXT PRIMARY KEY,
    cert_sha256     TEXT UNIQUE,            -- fingerprint of the kiosk's current client certificate
    cert_serial     TEXT,
    cert_not_after  TEXT,
    location        TEXT NOT NULL DEFAULT '',
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    removed_at      TEXT
);
INSERT INTO kiosks_v2 (kiosk_id, location, active, created_at)
    SELECT kiosk_id, location, 0, created_at FROM kiosks;
DROP TABLE kiosks;
ALTER TABLE kiosks_v2 RENAME TO kiosks;
