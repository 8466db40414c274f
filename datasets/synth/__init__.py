"""Building blocks of the synthetic corpora (``synth_words`` and ``synth_sentences``).

``espeak`` binds libespeak-ng through ctypes, ``voices`` lists the voice identities and splits
them between train/val/test, ``augment`` turns a clean synthesized word into a noisy 1-s clip (or
a sentence into a padded clip of its own length), ``generate`` runs all of it per word in worker
processes, and ``cache`` stores the result. For sentences, ``grammar`` draws seeded sentences from
a grammar given as data (``grammars``), and ``utterances`` speaks them a fixed chunk per task.
"""
