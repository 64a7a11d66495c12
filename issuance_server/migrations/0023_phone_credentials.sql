-- A resident's credentials (issue 34): the card, and phones (スマホ用電子証明書) linked to it, each with its own
-- certificate, registered PIN and status. 'form' is card, android or iphone; a phone's 'linked_card' is the
-- card registration it was linked with (a new card revokes the phones of the old one); 'cert_serial' is the
-- certificate's serial number (hex), what a clerk may read out (NULL for registrations made before).
ALTER TABLE registrations ADD COLUMN form TEXT NOT NULL DEFAULT 'card' CHECK (form IN ('card', 'android', 'iphone'));
ALTER TABLE registrations ADD COLUMN linked_card INTEGER;
ALTER TABLE registrations ADD COLUMN cert_serial TEXT;
-- Wrong PINs count per resident, not per credential (a thief with card and phone gets no more tries).
CREATE TABLE pin_failures (
    atena_no  TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL
);
INSERT INTO pin_failures (atena_no, failures)
    SELECT atena_no, MAX(failures) FROM registrations
    WHERE status IN ('active', 'locked') AND failures > 0 GROUP BY atena_no;
ALTER TABLE registrations DROP COLUMN failures;
-- The form of the credential a kiosk session signed in with (the audit and the monthly review count by it).
ALTER TABLE kiosk_sessions ADD COLUMN credential_form TEXT;
