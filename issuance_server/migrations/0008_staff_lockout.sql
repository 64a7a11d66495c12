-- Staff lockout: failed logins in a row; at staff_max_failures the account is locked until ops lift it.
ALTER TABLE staff ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff ADD COLUMN locked_at TEXT;
