"""Typed, read-only answers to the questions rules and lint both ask of raw
objects: what a Service selects and what nearly matches, what fronts it,
what backs it, its ports and their protocols, probes and their failures,
revisions and what changed between them.

Rules and lint checks do not poke raw dicts for these facts; they ask here,
so the semantics live in one place. Views read a `Snapshot` and never write.
"""
