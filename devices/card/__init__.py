"""The card layer: the JPKI protocol (:mod:`devices.card.jpki`) written against a connection seam
(:mod:`devices.card.connection`), implemented over PC/SC (:mod:`devices.card.pcsc`); the virtual card that
tests and the demo plug into pcscd lives in :mod:`devices.card.virtual`."""
