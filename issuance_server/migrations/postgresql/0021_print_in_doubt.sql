-- A print in doubt (issue 32): the kiosk handed the job to its printer and the printer stopped answering
-- before it could say whether the page came out or cancel it. The certificate stays 'issued' and neither
-- the session's end nor the sweep voids it, until the kiosk reports what its printer finally says.
ALTER TABLE issuances ADD COLUMN print_in_doubt_at TEXT;
