"""Seeded sentences from a small context-free grammar that is plain data.

A grammar maps each rule name to its alternatives; an alternative is a string of words and
whole-word ``<rule>`` references (``"set a timer for <count> <time_unit>"``), and may be empty
(the rule says nothing). Rules may not refer to themselves, directly or not, so every expansion
ends. Every alternative of a rule is equally likely; a rule referenced twice in one alternative is
expanded twice, independently.

The sentence corpus needs two things beyond random sampling, both provided here:

* every vocabulary word heard in training (``covering``): for each word not yet covered, a
  sentence is forced through a chain of alternatives that leads to it;
* a stable identity for the cache key (``digest``): editing the grammar's data makes a new
  corpus, with no version number to remember.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping

import numpy as np

from datasets.base import normalize_transcript, out_of_alphabet
from results.errors import UserError

_REF_RE = re.compile(r"<([a-z0-9_]+)>")


@dataclasses.dataclass(frozen=True)
class Grammar:
    """A validated grammar: ``rules[name]`` are the alternatives of rule ``name``.

    Raises ``ValueError`` (naming the rule) for an unknown reference, a rule without
    alternatives, a cycle, a word outside the CTC alphabet or not in normal form, or a rule that
    ``start`` never reaches (its words could never be said).
    """

    rules: Mapping[str, tuple[str, ...]]
    start: str = "sentence"

    def __post_init__(self) -> None:
        rules = {name: tuple(alts) for name, alts in self.rules.items()}
        object.__setattr__(self, "rules", rules)
        if self.start not in rules:
            raise ValueError(f"grammar has no start rule {self.start!r}")
        for name, alts in rules.items():
            if not alts:
                raise ValueError(f"grammar rule <{name}> has no alternatives")
            for alt in alts:
                for token in alt.split():
                    ref = _REF_RE.fullmatch(token)
                    if "<" in token and not ref:
                        raise ValueError(
                            f"grammar rule <{name}>: {token!r} in {alt!r} is not a whole word "
                            "or a whole <rule> reference"
                        )
                    if ref and ref.group(1) not in rules:
                        raise ValueError(
                            f"grammar rule <{name}>: {alt!r} refers to no rule {token}"
                        )
                for word in _words(alt):
                    if word != normalize_transcript(word) or out_of_alphabet(word):
                        raise ValueError(
                            f"grammar rule <{name}>: {word!r} in {alt!r} is not a lower-case word "
                            "of the CTC alphabet"
                        )
        order = self._check_acyclic()
        unreachable = sorted(set(rules) - set(order))
        if unreachable:
            raise ValueError(f"grammar rules never used from <{self.start}>: {unreachable}")

    def _check_acyclic(self) -> list[str]:
        """Rules reachable from ``start`` (depth first); raises on a cycle, naming it."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join(f"<{n}>" for n in (*path[path.index(name) :], name))
                raise ValueError(f"grammar has a cycle: {cycle}")
            state[name] = 1
            for alt in self.rules[name]:
                for ref in _REF_RE.findall(alt):
                    visit(ref, (*path, name))
            state[name] = 2
            order.append(name)

        visit(self.start, ())
        return order

    def expand(
        self,
        rng: np.random.Generator,
        rule: str | None = None,
        force: Mapping[str, int] | None = None,
    ) -> str:
        """A random sentence from ``rule`` (default ``start``), normalized.

        ``force`` maps rule names to the index of the alternative they must take (every time
        they are expanded); the other rules draw from ``rng``. ``rng`` is drawn once per rule
        expansion either way, so forcing one rule does not shift the others' draws.
        """
        force = force or {}
        alts = self.rules[rule or self.start]
        index = int(rng.integers(len(alts)))
        index = force.get(rule or self.start, index)
        text = _REF_RE.sub(lambda m: self.expand(rng, m.group(1), force), alts[index])
        return normalize_transcript(text)

    def vocabulary(self) -> tuple[str, ...]:
        """Every word some sentence can contain, sorted."""
        return tuple(sorted({w for alts in self.rules.values() for a in alts for w in _words(a)}))

    def derivation(self, word: str) -> dict[str, int]:
        """Alternatives to force (rule -> index) so that the sentence contains ``word``.

        Raises ``KeyError`` for a word that is not in the vocabulary.
        """
        path = self._path(self.start, word)
        if path is None:
            raise KeyError(f"{word!r} is not in the grammar's vocabulary")
        return path

    def _path(self, rule: str, word: str) -> dict[str, int] | None:
        for index, alt in enumerate(self.rules[rule]):
            if word in _words(alt):
                return {rule: index}
        for index, alt in enumerate(self.rules[rule]):
            for ref in _REF_RE.findall(alt):
                sub = self._path(ref, word)
                if sub is not None:
                    return {rule: index, **sub}
        return None

    def digest(self) -> str:
        """SHA-256 of the grammar's data: same rules and start, same digest."""
        blob = json.dumps({"start": self.start, "rules": self.rules}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _words(alternative: str) -> list[str]:
    """The literal words of an alternative (its ``<rule>`` references removed)."""
    return _REF_RE.sub(" ", alternative).split()


def covering(grammar: Grammar, rng: np.random.Generator) -> list[str]:
    """Sentences that together contain every vocabulary word (at most one per word).

    Words are visited in sorted order; a word already said by an earlier covering sentence gets
    none of its own, so the list is usually much shorter than the vocabulary.
    """
    covered: set[str] = set()
    sentences: list[str] = []
    for word in grammar.vocabulary():
        if word in covered:
            continue
        sentence = grammar.expand(rng, force=grammar.derivation(word))
        sentences.append(sentence)
        covered.update(sentence.split())
    return sentences


def sample(
    grammar: Grammar,
    n: int,
    rng: np.random.Generator,
    *,
    cover: bool = False,
    avoid: frozenset[str] = frozenset(),
    attempts: int = 20,
) -> list[str]:
    """``n`` sentences drawn from ``grammar`` with ``rng``.

    Args:
        cover: include ``covering`` sentences (shuffled in among the random ones), so every
            vocabulary word occurs; ``ValueError`` if ``n`` is too small for that.
        avoid: sentences to keep out (the training sentences, for val and test); a sentence in
            it is drawn again, up to ``attempts`` times, then kept (a grammar may be too small
            to avoid them all).
    """
    sentences = covering(grammar, rng) if cover else []
    if len(sentences) > n:
        raise UserError(
            f"{n} sentences cannot cover the grammar's {len(grammar.vocabulary())} words; "
            f"at least {len(sentences)} are needed"
        )
    while len(sentences) < n:
        sentence = grammar.expand(rng)
        for _ in range(attempts):
            if sentence not in avoid:
                break
            sentence = grammar.expand(rng)
        sentences.append(sentence)
    return [sentences[i] for i in rng.permutation(n)]
