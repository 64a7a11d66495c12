-- A new account asked for at the desk is not approved until a second administrator approves it (and sets
-- its temporary password); accounts made before, and by konbini-clerk bootstrap, are.
ALTER TABLE staff ADD COLUMN approved INTEGER NOT NULL DEFAULT 1;
