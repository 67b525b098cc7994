"""The benchmark (``make bench``) and the soak (``make soak``); loopback only, bounded."""
