"""The city-hall desk app (``konbini-desk serve``): the clerk's pages and the customer display, on the
clerk's PC, talking to the issuance server's clerk API as the logged-in staff member."""
