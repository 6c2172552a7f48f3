"""The quality benchmark's peer optimizers, each run by its own library in its own environment.

* :mod:`.envs`: one virtual environment per library (``python -m benchmarks.quality.peers
  setup`` / ``check``), pinned by ``requirements/<name>.txt``.
* :mod:`.protocol`: the JSON-lines protocol between the simulator and a runner (standard
  library only; the runners import it as a sibling module).
* ``runner_synetune.py``, ``runner_smac.py``, ``runner_dehb.py``: scripts run by a peer
  environment's interpreter; each imports only the standard library, its library and
  the protocol module (SMAC's and DEHB's also ``configspace_build.py``, their shared
  ConfigSpace translation), never hpo or this package.
* :mod:`.policy`: :class:`~benchmarks.quality.peers.policy.PeerPolicy`, the simulator's
  side, a :class:`~benchmarks.quality.simulator.Policy` that talks to a runner.
"""
