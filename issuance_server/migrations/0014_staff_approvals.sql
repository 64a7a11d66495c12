-- Four eyes on staff accounts: a new account and every role grant take effect only when a second
-- administrator approves (not the one who asked, nor an account that one made).
ALTER TABLE staff ADD COLUMN created_by TEXT;      -- who asked for the account ('bootstrap': konbini-clerk bootstrap)
ALTER TABLE staff ADD COLUMN pending_roles TEXT;   -- roles asked for, in force once approved
ALTER TABLE staff ADD COLUMN pending_by TEXT;      -- who asked for them
ALTER TABLE staff ADD COLUMN pending_at TEXT;
