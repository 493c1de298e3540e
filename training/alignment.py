"""Gold character spans that no token boundary matches: counted per label, never dropped silently."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class AlignmentReport:
    total: Counter = field(default_factory=Counter)
    misaligned: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, label: str, ok: bool, context: str) -> None:
        self.total[label] += 1
        if not ok:
            self.misaligned[label] += 1
            if len(self.examples) < 20:
                self.examples.append(f"{label}: {context}")

    def summary(self) -> str:
        if not self.misaligned:
            return f"all {sum(self.total.values())} gold spans align with token boundaries"
        per_label = ", ".join(f"{label} {n}/{self.total[label]}" for label, n in sorted(self.misaligned.items()))
        return f"{sum(self.misaligned.values())} gold spans match no token boundary ({per_label}); not trained on"
