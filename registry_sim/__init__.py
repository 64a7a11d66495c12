"""registry_sim: the stand-in for the main registry, seal registry and tax system (synthetic data only)."""
