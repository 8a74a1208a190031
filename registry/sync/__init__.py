"""Sync: feed endpoints (server) and the replicating client."""
