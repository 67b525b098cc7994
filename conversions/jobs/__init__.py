"""Scheduled work: the aggregate, staleness, prune and flush jobs, once per interval across
processes, run by APScheduler in each serving process or by ``flask scheduler``. May import
every lower layer."""
