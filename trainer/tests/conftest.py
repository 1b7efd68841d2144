import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

import fake_openpi  # noqa: E402


@pytest.fixture
def fake_openpi_package(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Installs an openpi-shaped package (tests/fake_openpi.py) for one test: call it with the `_CONFIGS` source and
    extra modules; the modules it imported are forgotten afterwards."""
    root = tmp_path / "fake-openpi"
    monkeypatch.syspath_prepend(str(root))
    fake_openpi.forget_modules()

    def make(configs: str, extra=None):  # type: ignore[no-untyped-def]
        fake_openpi.install(root, configs, extra)

    yield make
    fake_openpi.forget_modules()


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny sentencepiece model trained once per session (demo.train_tokenizer; needs spm_train on PATH)."""
    from openpi_edge_export.demo import train_tokenizer

    p = str(tmp_path_factory.mktemp("tok") / "tok.model")
    train_tokenizer(p)
    return p
