"""Several objectives, outcome constraints and cost (issue 18): hpo against Optuna, simulated.

The single-objective quality benchmark (:mod:`benchmarks.quality`) scores one number, regret.
A study with two objectives is judged by the hypervolume of its front, a constrained one by
its best *feasible* answer and how often it proposes infeasible configurations, and a
cost-aware one by regret against the cost it spent, not the time; so this benchmark has its
own problems (:mod:`.synthetic`, :mod:`.mlp_size`), a simulator that charges cost
(:mod:`.simulator`), metrics (:mod:`.metrics`) and report (:mod:`.report`), and reuses the
suite's clocked model fits and policies. ``python -m benchmarks.quality.multi --help``.
"""
