"""Building blocks of the synthetic spoken-word corpus (``datasets.synth_words``).

``espeak`` binds libespeak-ng through ctypes, ``voices`` lists the voice identities and splits
them between train/val/test, ``augment`` turns a clean synthesized word into a noisy 1-s clip,
``generate`` runs all of it per word in worker processes, and ``cache`` stores the result.
"""
