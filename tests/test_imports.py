"""The packages import with the core dependencies alone: each extra (app, eval, train) is imported inside the
functions that use it, so that `pip install .` gives packages that import."""
import importlib
import sys

PACKAGES = ("codec", "tts", "app", "recipes", "eval")
# The import names of pyproject.toml's optional dependencies (app, eval and train extras).
EXTRAS = ("gradio", "gradio_client", "jiwer", "pesq", "pystoi", "psutil", "faster_whisper", "ctranslate2",
          "resemblyzer", "pocketsphinx", "accelerate", "tensorboard")


def _ours_and_extras() -> dict:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] in PACKAGES + EXTRAS}


def test_packages_import_without_the_extras():
    # In this process, not a fresh one (importing torch again takes many seconds): our modules are imported
    # anew with each extra hidden (`import gradio` raises), then the modules as they were are put back.
    saved = _ours_and_extras()
    try:
        for name in saved:
            del sys.modules[name]
        sys.modules.update(dict.fromkeys(EXTRAS))
        for package in PACKAGES:
            importlib.import_module(package)
    finally:
        for name in _ours_and_extras():
            del sys.modules[name]
        sys.modules.update(saved)
