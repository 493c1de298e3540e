"""Tiny local transformer backbones for fast tests: a WordPiece tokenizer trained on the seeds + a 2-layer BERT.

Nothing is downloaded: the tokenizer is trained with the ``tokenizers`` library on the bundled seed
texts and the encoder is randomly initialized from a small ``BertConfig``, then both are saved as a
standard directory that ``AutoTokenizer``/``AutoModel.from_pretrained(dir)`` read.
"""

from __future__ import annotations

from pathlib import Path

from corpus.jsonl import read_documents
from corpus.paths import BUNDLED_GOLD_FILE
from corpus.schema import load_schema

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                  "mask_token": "[MASK]"}


def seed_texts() -> list[str]:
    return [doc.text for doc in read_documents(BUNDLED_GOLD_FILE)]


def build_tokenizer(out_dir: Path, texts: list[str] | None = None, vocab_size: int = 600):
    """A cased WordPiece fast tokenizer trained on ``texts`` (default: the seeds), saved to ``out_dir``.

    The small vocabulary splits many syllables into several pieces, which exercises sub-token masking.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS.values())
    tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, min_frequency=1)
    tokenizer.train_from_iterator(texts if texts is not None else seed_texts(), trainer)
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B {sep}",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))],
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=512, **SPECIAL_TOKENS)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def build_backbone(out_dir: Path, *, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0,
                   texts: list[str] | None = None, vocab_size: int = 600) -> Path:
    """A randomly initialized tiny BERT encoder plus its tokenizer in ``out_dir``; returns ``out_dir``."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = build_tokenizer(out_dir, texts, vocab_size)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(out_dir)
    return out_dir


def check_entities(original: str, entities: list[dict]) -> None:
    """Every entity is valid: its text is ``original[start:end]``, trimmed, a schema label, a score in [0, 1]."""
    for ent in entities:
        assert original[ent["start"]:ent["end"]] == ent["text"]
        assert ent["text"] and ent["text"] == ent["text"].strip()
        assert ent["label"] in load_schema().names
        assert 0.0 <= ent["score"] <= 1.0
