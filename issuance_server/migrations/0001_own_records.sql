-- Own records of the issuance server (the replica lives in its own file, see replica_store.py).

CREATE TABLE staff (
    staff_id      TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    roles         TEXT NOT NULL,            -- comma-separated: registrar, counter, mynumber, ops, auditor
    password_hash TEXT NOT NULL,            -- argon2id
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE staff_sessions (
    token_hash    TEXT PRIMARY KEY,         -- sha256 of the bearer token
    staff_id      TEXT NOT NULL REFERENCES staff(staff_id),
    terminal      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);

CREATE TABLE kiosks (
    kiosk_id      TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL,            -- sha256 of the kiosk's bearer token
    location      TEXT NOT NULL DEFAULT '',
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE registrations (
    registration_id   INTEGER PRIMARY KEY,
    atena_no          TEXT NOT NULL,
    card_fingerprint  TEXT NOT NULL UNIQUE, -- sha256 of the card's authentication certificate (DER)
    card_serial       TEXT NOT NULL,
    card_not_after    TEXT NOT NULL,
    pin_hash          TEXT NOT NULL,        -- argon2id of pepper-keyed PIN
    status            TEXT NOT NULL CHECK (status IN ('active', 'locked', 'suspended', 'revoked')),
    failures          INTEGER NOT NULL DEFAULT 0,
    registered_by     TEXT NOT NULL,
    registered_at     TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX registrations_atena ON registrations(atena_no);

CREATE TABLE issuances (
    serial          TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    options         TEXT NOT NULL,          -- JSON
    atena_nos       TEXT NOT NULL,          -- JSON list of the persons printed
    channel         TEXT NOT NULL CHECK (channel IN ('kiosk', 'counter')),
    terminal        TEXT NOT NULL,          -- kiosk id or staff terminal
    session_id      TEXT,
    fee_yen         INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('issued', 'printed', 'voided', 'refunded')),
    mode            TEXT NOT NULL,
    data_as_of      TEXT NOT NULL,
    content_digest  TEXT NOT NULL,
    pages           INTEGER NOT NULL,
    issued_at       TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX issuances_session ON issuances(session_id);

-- The PDF is kept only until the kiosk reports it printed or failed.
CREATE TABLE issuance_documents (
    serial  TEXT PRIMARY KEY REFERENCES issuances(serial),
    pdf     BLOB NOT NULL
);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,              -- kiosk, staff, system, ops
    actor_id    TEXT NOT NULL,
    terminal    TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT,                       -- 宛名番号 of the person concerned, if any
    result      TEXT NOT NULL,
    details     TEXT NOT NULL,              -- JSON, never names, 個人番号 or PINs
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE TABLE sync_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    replica_file      TEXT,                 -- current replica generation (file name in data_dir)
    replica_seq       INTEGER,              -- registry sequence number the replica is at
    replica_as_of     TEXT,                 -- when the registry produced that data
    last_full_sync_at TEXT,
    last_error        TEXT
);
INSERT INTO sync_state (id) VALUES (1);

CREATE TABLE serial_counter (
    day   TEXT PRIMARY KEY,
    last  INTEGER NOT NULL
);
