"""Training and evaluation of NER models from gold files."""
