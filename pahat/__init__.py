"""pahat: a tiny Indonesian language model, trained on a writer's own clean prose."""

__version__ = "0.1.0"
