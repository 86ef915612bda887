"""xai-pipelines: declarative YAML pipelines and batch jobs for the xAI API."""

__version__ = "0.1.0"
