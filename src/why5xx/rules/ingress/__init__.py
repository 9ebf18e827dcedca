"""Causes in an Ingress itself: a backend Service or port that does not
exist, and a class no controller serves."""
