-- Staff second factor (TOTP, RFC 6238) and one-time recovery codes. Seeds are sealed with
-- secrets/totp-key (AES-GCM, the staff id as associated data); a code's time step is kept so that no code
-- is accepted twice.
ALTER TABLE staff ADD COLUMN totp_secret TEXT;               -- sealed seed; NULL until enrolled
ALTER TABLE staff ADD COLUMN totp_pending TEXT;              -- sealed seed shown at enrolment, until confirmed
ALTER TABLE staff ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
CREATE TABLE staff_recovery_codes (
    code_hash   TEXT PRIMARY KEY,                            -- HMAC-SHA256(totp-key, staff_id:code)
    staff_id    TEXT NOT NULL REFERENCES staff(staff_id),
    created_at  TEXT NOT NULL,
    used_at     TEXT
);
CREATE INDEX staff_recovery_codes_by_staff ON staff_recovery_codes (staff_id);
