"""The lease policy shared by the coordinator, its CLI and the workers (a light module).

A running trial is held by one worker under a lease. The worker heartbeats every
``lease / HEARTBEATS_PER_LEASE`` seconds; a lease that runs out sends the trial
back to the schedule (``pending``) for another worker to resume, at most
``max_retries`` times, after which the trial fails. See docs/reliability.md.
"""

from __future__ import annotations

DEFAULT_LEASE_SECONDS = 30.0
# A lease lasts this many heartbeat intervals: one late heartbeat is forgiven, and a dead
# worker's trial goes back to the schedule within two intervals of its last sign of life.
HEARTBEATS_PER_LEASE = 1.5
# How many times a trial whose worker's lease expired is handed out again before it fails.
DEFAULT_MAX_RETRIES = 2
