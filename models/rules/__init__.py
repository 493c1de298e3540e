"""The rules engine: a pre-annotator built from patterns and word lists, usable before any model.

``load_model("rules")`` returns a :class:`RulesModel`; it needs no model directory. Its word
lists live in ``models/data/rules/*.txt`` (one entry a line, ``#`` comments; see the README
there), so they can grow without touching this code. Entries match syllable by syllable on a
folded key (lower case, new-style tone marks): ``Uỷ ban`` and ``Ủy ban`` are one entry.

What it finds (labels of ``annotation-spec.md``):

- FIGURE and DATE by regular expressions. FIGURE: a Vietnamese number (``6.325``, ``25,2``,
  ``19,43/19,43``, ranges ``30-50``) or a spelled-out one before a counted noun (``hai ngày``),
  an approximator before it (``hơn``, ``gần``), a multiplier, unit or counted noun after it
  (``tỷ đồng``, ``ha``, ``hộ dân``), rates (``tạ/ha``) and a plan base (``% KH``,
  ``% kế hoạch``, ``trở lên``). DATE: ``ngày 31/8``, ``Ngày 3-4``, ``quý I-2023``,
  ``tháng 9/2023``, ``năm 2024``, ``6 tháng đầu năm``, ``giai đoạn 2021-2025``,
  ``nhiệm kỳ 2020-2025``, and a bare day/month after a time word ("Sáng 14/6" -> ``14/6``).
  Ordinals (``lần thứ 15``), identifiers (``số 10-NQ/TU``), times of day and numbers right
  after a date keyword are not FIGURE.
- UNIT: a body (``UBND``, ``Huyện ủy``), a head with its field (``Sở`` + ``Tài chính``) or a
  named organisation (``Công ty`` + capitalised name), with the bodies directly after it
  (``Ban Thường vụ`` + ``Huyện ủy``) and a locality (``huyện Hậu Lộc``, ``TP. HCM``, a known
  place, or capitalised syllables); not in generic mentions ("UBND các xã", "HĐND cấp huyện").
  An organisation's acronym ("Tập đoàn FLC", "... (PVN)") is marked again where it recurs.
- POSITION: a title (``Phó Bí thư``) with its qualifier (``Thường trực``), field, body and
  locality (``Chủ tịch UBND huyện Hậu Lộc``). Not after a plural (``các đồng chí``) nor before
  one (``Trưởng các phòng``); a lower-case title only with a body after it.
- LOCATION: a type word + proper name (``xã Kim Song Trường``, ``quận 2``,
  ``Cụm công nghiệp Liên Hoa``), known places (provinces, countries, regions), each name of
  "các xã A, B và C", and bare repeats of names first seen after a type word.
- OFFICIAL: capitalised syllables after an honorific (``ông``, ``đồng chí``), right after a
  POSITION, next to one (", POSITION", "POSITION, "), or listed with a found name; full names
  so found are marked again where they recur. A locality run is split before a family name
  (``surnames.txt``): "Bí thư Huyện ủy Can Lộc | Nghiêm Sỹ Đống".

Overlaps are resolved longest first (a POSITION holding a body beats the UNIT inside it;
a UNIT beats the LOCATION inside it). Every span carries the fixed confidence of the rule
that made it (``confidence.txt``: precision measured on the training gold). TARGET is not
produced: telling a planned value from a reported one needs more than patterns.

Modules: :mod:`~models.rules.folding` (tone folding), :mod:`~models.rules.lexicon` (word lists,
tokens, gazetteers), :mod:`~models.rules.patterns` (FIGURE and DATE), :mod:`~models.rules.phrases`
(UNIT, POSITION, LOCATION, OFFICIAL on one line), :mod:`~models.rules.document` (rules over the
whole document), :mod:`~models.rules.candidates` (overlaps) and :mod:`~models.rules.engine`.
"""

from models.rules.candidates import Candidate, resolve
from models.rules.engine import ENGINE, Rules, RulesModel, load_rules_model
from models.rules.folding import fold, new_style, old_style
from models.rules.lexicon import DATA_DIR, read_confidences, read_list

__all__ = [
    "DATA_DIR",
    "ENGINE",
    "Candidate",
    "Rules",
    "RulesModel",
    "fold",
    "load_rules_model",
    "new_style",
    "old_style",
    "read_confidences",
    "read_list",
    "resolve",
]
