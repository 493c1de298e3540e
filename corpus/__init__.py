"""Corpus: documents, spans, the label schema, the gold format, ingestion and scoring."""
