"""A minimal ctypes binding to the eSpeak NG library bundled in the ``espeakng-loader`` wheel.

Only what the synthetic corpus needs: load the library, synthesize one text with a given voice,
rate, pitch and pitch range into int16 samples at the library's rate (22050 Hz), and unload it.

Two things make raw libespeak-ng output irreproducible, and both are handled here:

* Hidden state between calls (pitch flutter phase, gain control, filter memories, ...), so a
  clip depends on what was spoken before it. ``Espeak`` owns a private handle of the library and
  ``close()`` terminates and ``dlclose``-s it, so the next instance starts clean; callers that need
  order-independent output use one ``Espeak`` per group of clips spoken in a fixed order.
* Random breath/voicing noise from two generators: libespeak-ng's own, which
  ``espeak_Initialize`` seeds from the wall clock (``time()``), and libc's ``rand()``, whose state
  survives unloading the library. ``speak`` reseeds both before every utterance
  (``espeak_ng_SetRandSeed`` and ``srand``) from the ``seed`` it is given.
"""

from __future__ import annotations

import _ctypes
import ctypes
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

# espeak_AUDIO_OUTPUT: synthesize synchronously and hand the samples to the callback.
AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize option: return an error instead of exiting when the data is missing.
INITIALIZE_DONT_EXIT = 0x8000
# espeak_PARAMETER values.
PARAM_RATE = 1
PARAM_VOLUME = 2
PARAM_PITCH = 3
PARAM_RANGE = 4
# espeak_POSITION_TYPE and text flags.
POS_CHARACTER = 1
CHARS_UTF8 = 1
EE_OK = 0

# int callback(short *wav, int numsamples, espeak_EVENT *events); 0 = go on, 1 = abort.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """The eSpeak NG library could not be loaded, initialized or asked to speak."""


def library_paths() -> tuple[Path, Path]:
    """``(shared library, espeak-ng-data folder)`` of the installed ``espeakng-loader`` wheel."""
    try:
        import espeakng_loader
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise EspeakError(
            "the synthetic corpus needs the 'espeakng-loader' package (pip install espeakng-loader)"
        ) from err
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def _libc_srand() -> Callable[[int], None]:
    """``srand`` of the C library libespeak-ng links to, or a no-op where it cannot be found.

    Reseeding it also reseeds ``rand()`` for anything else in the process; nothing in Python uses
    it, and the corpus only calls this in its worker processes.
    """
    try:
        srand = ctypes.CDLL(None).srand
    except (OSError, AttributeError):  # pragma: no cover - no C runtime symbols (Windows)
        return lambda seed: None
    srand.argtypes = [ctypes.c_uint]
    srand.restype = None
    return srand


class Espeak:
    """One loaded, initialized instance of libespeak-ng; use as a context manager.

    ``speak(text, voice, rate=..., pitch=..., pitch_range=..., seed=...)`` returns the int16
    samples at ``self.sample_rate``. ``close()`` calls ``espeak_Terminate`` and unloads the library
    (POSIX ``dlclose``), so the next instance starts from a clean state. Use one instance at a
    time per process: the library's state is global.
    """

    def __init__(self) -> None:
        lib_path, data_path = library_paths()
        self._chunks: list[bytes] = []
        self._srand = _libc_srand()
        # A private handle (RTLD_LOCAL) so dlclose can drop the library when we are done.
        self._lib: ctypes.CDLL | None = ctypes.CDLL(str(lib_path), mode=os.RTLD_LOCAL | os.RTLD_NOW)
        try:
            self._declare()
        except BaseException:
            self._unload()
            raise
        # espeak-ng finds its data at <path>/espeak-ng-data; pass the parent folder.
        rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path.parent).encode(), INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            self._unload()
            raise EspeakError(f"espeak_Initialize failed ({rate}) with data at {data_path}")
        self.sample_rate = int(rate)
        self._callback = _SYNTH_CALLBACK(self._collect)  # keep a reference while loaded
        self._lib.espeak_SetSynthCallback(self._callback)

    def _declare(self) -> None:
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,  # text
            ctypes.c_size_t,  # size in bytes, including the terminating NUL
            ctypes.c_uint,  # position
            ctypes.c_int,  # position type
            ctypes.c_uint,  # end position (0 = none)
            ctypes.c_uint,  # flags
            ctypes.POINTER(ctypes.c_uint),  # unique identifier (may be NULL)
            ctypes.c_void_p,  # user data
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.argtypes = []
        lib.espeak_Terminate.restype = ctypes.c_int
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            raise EspeakError(
                "this libespeak-ng has no espeak_ng_SetRandSeed (eSpeak NG >= 1.52 needed); "
                "its output would change with the wall clock"
            )
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int

    def _collect(self, wav, numsamples, events) -> int:
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        return 0

    def speak(
        self,
        text: str,
        voice: str,
        *,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        seed: int = 1,
    ) -> np.ndarray:
        """Synthesize ``text`` with ``voice`` (e.g. ``"en-us+m3"``); int16 samples.

        Args:
            rate: speaking rate in words per minute (eSpeak accepts 80-450).
            pitch: base pitch, 0-100 (50 is the voice's normal pitch).
            pitch_range: pitch range, 0-100 (0 is monotone, 50 normal).
            seed: seeds the breath/voicing noise of this utterance (0 <= seed < 2**31).
        """
        if self._lib is None:
            raise EspeakError("this Espeak instance is closed")
        lib = self._lib
        if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise EspeakError(f"eSpeak NG has no voice {voice!r}")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch), (PARAM_RANGE, pitch_range)):
            if lib.espeak_SetParameter(param, int(value), 0) != EE_OK:
                raise EspeakError(f"espeak_SetParameter({param}, {value}) failed")
        lib.espeak_ng_SetRandSeed(int(seed))
        self._srand(int(seed))
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        err = lib.espeak_Synth(buf, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if err != EE_OK or lib.espeak_Synchronize() != EE_OK:
            raise EspeakError(f"espeak_Synth failed ({err}) for {text!r} with voice {voice!r}")
        out = np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy()
        self._chunks = []
        return out

    def _unload(self) -> None:
        if self._lib is not None:
            handle = self._lib._handle
            self._lib = None
            _ctypes.dlclose(handle)

    def close(self) -> None:
        """Terminate the synthesizer and unload the library; safe to call twice."""
        if self._lib is not None:
            self._lib.espeak_Terminate()
            self._unload()

    def __enter__(self) -> Espeak:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
