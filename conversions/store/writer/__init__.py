"""Event writes, committed before the sender hears 2xx: concurrent writes share one transaction
(``group_commit``) under a file lock every process takes (``lock``); under gunicorn on a SQLite
file they go to one writer process (``process``, kept running by ``supervisor``, reached
through ``link``). docs/performance.md has the measurements that keep it; docs/reliability.md
its failures.
"""
