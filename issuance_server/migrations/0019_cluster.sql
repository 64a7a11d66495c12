-- Several nodes on one database (issue 30). The registry lease: the one node that follows the registry
-- (feed, version probes, breaker, mode) names itself here; its fencing token grows at every takeover and is
-- checked in every transaction that writes the replica, so a node that lost the lease writes nothing.
CREATE TABLE cluster_lease (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    token        INTEGER NOT NULL DEFAULT 0,
    holder       TEXT,
    incarnation  TEXT,
    since        TEXT,
    confirmed_at TEXT,
    registry_seq INTEGER
);
INSERT INTO cluster_lease (id, token) VALUES (1, 0);
-- Every node that runs on this database, one row each, seen every second or so: which replica generation it
-- reads (an old one is dropped once no live node reads it), whether it drains, and its incarnation (a
-- restarted node is another incarnation: claims of the one before are taken over at once).
CREATE TABLE cluster_nodes (
    node        TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,
    started_at  REAL NOT NULL,
    seen_at     REAL NOT NULL,
    draining    INTEGER NOT NULL DEFAULT 0,
    generation  TEXT,
    schema      INTEGER NOT NULL
);
-- An issue's claim on a paid quote names the node incarnation issuing it and when the claim lapses: a retry
-- on another node takes over a claim whose node died or whose time ran out (one certificate, one charge).
ALTER TABLE kiosk_payments ADD COLUMN claim_owner TEXT;
ALTER TABLE kiosk_payments ADD COLUMN claim_expires_at REAL;
-- A kiosk step retried on another node gets the first answer: authenticate knows its own request again by
-- this digest of the nonce and the card's signature (no PIN counted twice).
ALTER TABLE kiosk_sessions ADD COLUMN auth_digest TEXT;
-- The cluster's keys: the fingerprint of the shared keys, written by the first node; a node with other keys
-- refuses to start (issuing key, PIN pepper, audit and TOTP keys, proxy secret, the city and kiosk CAs).
CREATE TABLE cluster_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);
-- Request ids (X-Request-Id, the kiosk client's, the same on every try of one step): an opening or a quote
-- tried again after its answer was lost gets the session or quote the first try made, not a second one.
ALTER TABLE kiosk_sessions ADD COLUMN open_request_id TEXT;
CREATE INDEX kiosk_sessions_by_request ON kiosk_sessions (kiosk_id, open_request_id);
ALTER TABLE kiosk_payments ADD COLUMN request_id TEXT;
CREATE INDEX kiosk_payments_by_request ON kiosk_payments (session_id, request_id);
