"""Causes in how the proxy in front of a Service talks to it, when the
Service has endpoints but answers go wrong: idle keep-alive connections the
app closes first, connection pools and circuit breakers too small for the
load, read timeouts shorter than the app's own, and the wrong protocol."""
