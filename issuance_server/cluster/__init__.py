"""Several nodes on one database: the registry lease, the nodes' table, and what a node follows."""
