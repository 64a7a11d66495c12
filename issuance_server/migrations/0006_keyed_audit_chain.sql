-- The keyed audit chain: rows from now on are chained with HMAC (chain = 2) over the subject's MAC, so
-- that erasing the personal field of an old row keeps the chain verifiable. Older rows keep chain = 1.
ALTER TABLE audit_log ADD COLUMN subject_mac TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN chain INTEGER NOT NULL DEFAULT 1;
