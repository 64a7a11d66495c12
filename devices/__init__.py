"""What the kiosk app and the desk app both drive: the card layer (:mod:`devices.card`) and printing."""
