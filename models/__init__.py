"""Load NER models and predict entities: ``from models import predict, load_model``."""

from models.loading import load_model
from models.predict import predict

__all__ = ["load_model", "predict"]
