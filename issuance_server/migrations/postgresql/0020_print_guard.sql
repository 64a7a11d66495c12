-- The print guard (issue 31): the SHA-256 of the DER of the credential certificate a kiosk session
-- authenticated (hex), so that each sheet of what it issues carries the requester's tag (record KB2).
ALTER TABLE kiosk_sessions ADD COLUMN credential_sha256 TEXT;
