"""The server's mode (normal / recovery / maintenance): its state and switch (``state``), its table
(``store``)."""
