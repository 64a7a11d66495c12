-- Ops tokens for automation, each with a name (the audit trail shows it) and revocable. The token made at
-- first start (secrets/ops-token, for konbini-ops on the server machine) is registered as 'local'.
CREATE TABLE ops_tokens (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,          -- sha256 of the token; the token itself is shown once
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_by  TEXT,
    revoked_at  TEXT
);
