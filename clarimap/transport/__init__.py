"""Transports: how requests reach a Clarifai API (HTTP, or the local server in process)."""
