"""The virtual My Number card: its state file, its applications, the vpcd runner and the demo card CA."""
