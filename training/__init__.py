"""Training and evaluation of NER models from gold files."""

ENGINES = ("spacy", "transformers")  # what `vner train` can train
