"""Hostile peers and hostile input: what ``verify`` must survive (issue 8, DESIGN.md "Bounds and trust").

- ``servers``: misbehaving peers on loopback (a behaviour per connection, every wait bounded and stoppable);
- ``cli_run``: ``python -m origin_tls verify`` in a subprocess, with its exit, report, wall time and peak memory;
- ``test_hostile_peers``: each peer against the CLI: honest status, 3 x ``--timeout`` + 1 s, bounded memory;
- ``test_signals``: SIGINT/SIGTERM mid-run: 130 at once, no traceback, nothing left in ``TMPDIR``;
- ``test_hostnames``, ``test_certificates``: IDNA and refused names; SAN-only coverage; client key pairs;
- ``test_sandbox_leftovers``: the sandbox SIGKILLed leaves no nginx and no private directory.

``pytest -s tests/hostile/test_hostile_peers.py`` prints the elapsed time and peak memory of every case.
"""
