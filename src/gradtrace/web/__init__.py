"""The web interface: the run browser (and, merged beside it, the live playground)."""
