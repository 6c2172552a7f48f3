"""What a study believes before it starts: prior models, their sources, and the LLM warm start.

``model`` (a mixture over the space, sampled and evaluated), ``sources`` (the spec's
``priors`` entries), ``proposals`` (configurations queued or believed good, and the prior
they make), ``llm`` (the OpenAI-compatible client), ``warm_start`` (ask or replay) and
``store`` (their rows). See docs/priors.md.
"""
