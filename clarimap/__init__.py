"""clarimap: an object mapper for the Clarifai API, with a local Clarifai-compatible server."""

__version__ = "0.1.0"

__all__ = ["__version__"]
