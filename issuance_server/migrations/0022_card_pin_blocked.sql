-- Why a registration is locked (issue 33): 'pin_failures' (wrong PINs counted by the server) or
-- 'card_pin_blocked' (a kiosk found the card's own PIN counter blocked: the card cannot sign, so the resident
-- needs J-LIS's PIN reset at the city hall before the card works anywhere). NULL when not locked.
ALTER TABLE registrations ADD COLUMN lock_reason TEXT;
