"""Renderers: pure functions from the model to text or JSON."""
