-- A resident's credentials (issue 34): the card, and phones (スマホ用電子証明書) linked to it, each with its own
-- certificate, registered PIN and status. 'form' is card, android or iphone; a phone's 'linked_card' is the
-- card registration it was linked with (a new card revokes the phones of the old one); 'cert_serial' is the
-- certificate's serial number (hex), what a clerk may read out (NULL for registrations made before).
ALTER TABLE registrations ADD COLUMN form TEXT NOT NULL DEFAULT 'card' CHECK (form IN ('card', 'android', 'iphone'));
ALTER TABLE registrations ADD COLUMN linked_card INTEGER;
ALTER TABLE registrations ADD COLUMN cert_serial TEXT;
-- Consecutive wrong PINs, per credential; the limit is on their sum per resident (a thief with card and phone
-- gets no more tries, and a right PIN on one credential clears only its own).
CREATE TABLE pin_failures (
    registration_id  INTEGER PRIMARY KEY,
    atena_no         TEXT NOT NULL,
    failures         INTEGER NOT NULL
);
CREATE INDEX pin_failures_atena ON pin_failures(atena_no);
INSERT INTO pin_failures (registration_id, atena_no, failures)
    SELECT registration_id, atena_no, failures FROM registrations
    WHERE status IN ('active', 'locked') AND failures > 0;
ALTER TABLE registrations DROP COLUMN failures;
-- The form of the credential a kiosk session signed in with (the audit and the monthly review count by it).
ALTER TABLE kiosk_sessions ADD COLUMN credential_form TEXT;
