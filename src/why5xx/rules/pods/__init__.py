"""Causes in the selected pods themselves: containers that crash, that the
kernel kills for memory, whose image cannot be pulled, and pods that never
get a node or never get their containers created."""
