-- Ops tokens expire (the 'local' token of the server machine does not: it works from loopback only and
-- rotates with konbini-ops token-rotate-local). Tokens made before get 90 days from their making.
ALTER TABLE ops_tokens ADD COLUMN expires_at TEXT;
UPDATE ops_tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+90 days') WHERE name != 'local';
