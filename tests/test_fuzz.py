"""Issue 13, item 10: property-based fuzzing (hypothesis) of every reader of user files.

The chain-spec parser, the chain and experiment TOML loaders, the image reader (random bytes,
truncated and mutated PNG/TIFF/JPEG), the allow-list unpickler (through the .pth importer that
users call) and the safetensors loader may only return a result or raise a UserError whose
message is one line. Anything else (a traceback of another type) is a bug the fuzzer shrinks to
a minimal example.

Reproducible and short: ``derandomize=True`` (the same examples on every run and machine),
``deadline=None`` (a loaded CI machine must not fail on time), and max_examples sized so the
whole file takes well under a minute.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from imgrestore.errors import UserError  # noqa: E402

# IMGRESTORE_FUZZ_SCALE=20 runs twenty times the examples; IMGRESTORE_FUZZ_RANDOM=1 draws new
# ones on every run (for hunting locally; CI keeps the fixed, derandomized set)
_SCALE = max(1, int(os.environ.get("IMGRESTORE_FUZZ_SCALE", "1")))
FUZZ = settings(derandomize=os.environ.get("IMGRESTORE_FUZZ_RANDOM") != "1", deadline=None, database=None,
                max_examples=300 * _SCALE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_SLOW = settings(FUZZ, max_examples=100 * _SCALE)   # examples that start torch work


def outcome(fn, *args):
    """``fn(*args)``; a UserError is fine when its message is one non-empty line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    except UserError as exc:
        msg = str(exc)
        assert msg.strip() and "\n" not in msg, repr(msg)
        return None


_TMP = Path(tempfile.mkdtemp(prefix="imgrestore-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)


def _file(data: bytes, name: str) -> Path:
    p = _TMP / name
    p.write_bytes(data)
    return p


# byte-level mutations of a valid file: truncate, flip, insert, delete, overwrite a run
@st.composite
def mutated(draw, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "overwrite"]))
        if not data:
            break
        k = draw(st.integers(0, len(data) - 1))
        if op == "truncate":
            del data[k:]
        elif op == "flip":
            data[k] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[k:k] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[k:k + draw(st.integers(1, 16))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[k:k + len(chunk)] = chunk
    return bytes(data)


# ---------------------------------------------------------------------------------------------
# chain specs and chain TOML files


def _registry():
    from imgrestore.registry import get_registry

    return get_registry().degradations


NAMES = ["awgn", "bicubic", "jpeg", "moire", "cbdnet", "awgnn", "", "BICUBIC"]
KEYS = ["sigma", "clip", "scale", "quality", "subsampling", "phase", "seed", "x", ""]
NUMBER_TEXT = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e400", "-0", ".5", "5.", "1e-400", "0x10", "nan", "inf", "9" * 400, "true", "RGGB"]),
)
VALUE_TEXT = st.one_of(NUMBER_TEXT, st.tuples(NUMBER_TEXT, NUMBER_TEXT).map("-".join),
                       st.tuples(NUMBER_TEXT, NUMBER_TEXT).map(",".join), st.text(max_size=6))
STAGE_TEXT = st.tuples(st.sampled_from(NAMES),
                       st.lists(st.tuples(st.sampled_from(KEYS), VALUE_TEXT), max_size=3)).map(
    lambda t: t[0] + (":" + ",".join(f"{k}={v}" for k, v in t[1]) if t[1] else ""))
SPEC_TEXT = st.one_of(st.lists(STAGE_TEXT, min_size=1, max_size=3).map(" | ".join),
                      st.text(alphabet=st.sampled_from(list("abcgijmnopqrstuw:=|,.-0123456789 eE+_\t")), max_size=40),
                      st.text(max_size=30))


@FUZZ
@given(SPEC_TEXT)
def test_fuzz_chain_spec_parser(text):
    from imgrestore.chain import Chain

    chain = outcome(Chain.parse, text, _registry())
    if chain is not None:  # what parses prints back to a spec that parses to the same chain
        assert Chain.parse(chain.spec(), _registry()).spec() == chain.spec()


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else ("-inf" if v == -float("inf") else repr(v)))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)  # a date


SCALAR = st.one_of(st.booleans(), st.integers(-10**30, 10**30), st.floats(), st.text(max_size=8),
                   st.sampled_from(["0-55", "30-95", "420,444", "RGGB", "1979-05-27"]), st.dates())
TOML_VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3),
                       st.fixed_dictionaries({"min": SCALAR, "max": SCALAR}),
                       st.fixed_dictionaries({"choices": st.lists(SCALAR, max_size=3)}))


@st.composite
def chain_toml(draw) -> str:
    lines = []
    for k, v in draw(st.lists(st.tuples(st.sampled_from(["seed", "name", "x"]), SCALAR), max_size=1)):
        lines.append(f"{k} = {_toml_value(v)}")
    for _ in range(draw(st.integers(0, 3))):
        header = draw(st.sampled_from(["[[degradation]]"] * 6 + ["[[degradations]]", "[extra]", "[degradation.x]"]))
        lines.append(header)
        if draw(st.booleans()) or header != "[[degradation]]":
            lines.append(f"name = {_toml_value(draw(st.one_of(st.sampled_from(NAMES), SCALAR)))}")
        for key in draw(st.lists(st.sampled_from(KEYS[:-1]), max_size=3, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(TOML_VALUE))}")
    return "\n".join(lines) + "\n"


VALID_CHAIN = (b'[[degradation]]\nname = "bicubic"\nscale = 2\n\n[[degradation]]\nname = "awgn"\n'
               b'sigma = {min = 0, max = 55}\n\n[[degradation]]\nname = "jpeg"\nquality = "30-95"\n')


@FUZZ
@given(st.one_of(chain_toml().map(str.encode), mutated(VALID_CHAIN), st.binary(max_size=64)))
def test_fuzz_chain_toml_loader(data):
    from imgrestore.chain import Chain

    outcome(Chain.from_toml, _file(data, "chain.toml"), _registry())


# ---------------------------------------------------------------------------------------------
# experiment TOML files (imgrestore/experiment/; only called here)

VALID_EXPERIMENT = (b'[defaults]\ndevice = "cpu"\n\n[[step]]\nname = "speed"\ncommand = "bench net"\n'
                    b'args = ["dncnn-s"]\nsizes = "16,24"\nrepeats = 1\njson = true\n\n'
                    b'[[step]]\nname = "noise"\ncommand = "synth"\nargs = ["awgn:sigma=25"]\ncount = 2\n')


@st.composite
def experiment_toml(draw) -> str:
    lines = []
    if draw(st.booleans()):
        lines += ["[defaults]", f"device = {_toml_value(draw(st.one_of(st.sampled_from(['cpu', 'auto']), SCALAR)))}"]
    if draw(st.booleans()):
        lines += ["[vars]", f"v = {_toml_value(draw(SCALAR))}"]
    for n in range(draw(st.integers(0, 3))):
        lines.append(draw(st.sampled_from(["[[step]]"] * 5 + ["[[steps]]", "[step]", "[other]"])))
        lines.append(f'name = {_toml_value(draw(st.one_of(st.just(f"s{n}"), SCALAR)))}')
        lines.append(f"command = {_toml_value(draw(st.one_of(st.sampled_from(['synth', 'bench net', 'eval', 'fit', 'nope']), SCALAR)))}")
        for key in draw(st.lists(st.sampled_from(["args", "count", "seed", "after", "out", "weights", "x", "sizes"]),
                                 max_size=3, unique=True)):
            value = draw(st.one_of(TOML_VALUE, st.sampled_from(["{steps.s0.out}", "{vars.v}", "{steps.nope.out}"])))
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(st.one_of(experiment_toml().map(str.encode), mutated(VALID_EXPERIMENT), st.binary(max_size=64)))
def test_fuzz_experiment_toml_loader(data):
    from imgrestore.cli.main import cli as root
    from imgrestore.experiment import load_experiment

    path = _file(data, "experiment.toml")
    outcome(load_experiment, path, root, _TMP / "runs")


# ---------------------------------------------------------------------------------------------
# the image reader


def _encodings() -> dict[str, bytes]:
    """Small valid files of each format the reader takes (written by Pillow and tifffile)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = {}
    rgb = (rng.random((6, 5, 3)) * 255).astype(np.uint8)
    for fmt, suffix, kw in (("PNG", ".png", {}), ("JPEG", ".jpg", {"quality": 80}), ("BMP", ".bmp", {}),
                            ("TIFF", ".tif", {})):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, **kw)
        out[suffix] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((rng.random((5, 7)) * 65535).astype(np.uint16)).save(buf, format="PNG")
    out["16.png"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb, rgb[..., :1]])).save(buf, format="PNG")
    out["a.png"] = buf.getvalue()
    try:
        import tifffile

        buf = io.BytesIO()
        tifffile.imwrite(buf, rng.random((4, 6, 3)).astype(np.float32), photometric="rgb")
        out["f.tif"] = buf.getvalue()
        buf = io.BytesIO()
        tifffile.imwrite(buf, (rng.random((4, 6)) * 65535).astype(np.uint16))
        out["16.tif"] = buf.getvalue()
    except ImportError:
        pass
    return out


ENCODINGS = _encodings()


@FUZZ
@given(st.sampled_from(sorted(ENCODINGS)), st.data())
def test_fuzz_image_reader_mutated_files(kind, data):
    from imgrestore.io import image_shape, read_image

    blob = data.draw(mutated(ENCODINGS[kind]))
    suffix = "." + kind.rsplit(".", 1)[-1]
    path = _file(blob, "img" + suffix)
    shape = outcome(image_shape, path)
    img = outcome(read_image, path)
    if img is not None:
        assert img.ndim == 3 and img.dtype == np.float32 and np.isfinite(img).all()
        if shape is not None:
            assert tuple(img.shape) == tuple(shape)


@FUZZ
@given(st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM"]),
       st.binary(max_size=200), st.sampled_from([".png", ".jpg", ".tif", ".bmp"]))
def test_fuzz_image_reader_random_bytes(magic, rest, suffix):
    from imgrestore.io import read_image

    outcome(read_image, _file(magic + rest, "rand" + suffix))


# ---------------------------------------------------------------------------------------------
# weights: the allow-list unpickler (through the .pth importer) and the safetensors loader


def _legacy_pth() -> bytes:
    torch = pytest.importorskip("torch")
    from imgrestore.nets.dncnn import DnCNN

    torch.manual_seed(0)
    net = DnCNN(channels=1, depth=3, features=2)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _checkpoint_bytes() -> bytes:
    torch = pytest.importorskip("torch")
    from imgrestore.registry import get_registry
    from imgrestore.weights.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = get_registry().networks["dncnn-s"].build(depth=3, features=2)
    path = _TMP / "base.safetensors"
    save_checkpoint(path, "dncnn-s", {"depth": 3, "features": 2}, model.state_dict())
    return path.read_bytes()


@pytest.fixture(scope="module")
def legacy_pth():
    return _legacy_pth()


@pytest.fixture(scope="module")
def checkpoint_bytes():
    return _checkpoint_bytes()


@FUZZ_SLOW
@given(data=st.data())
def test_fuzz_legacy_pickle_import(legacy_pth, data):
    """A mutated legacy torch.save file, through the importer users run (torch.load with
    weights_only, then the allow-list unpickler): layers or a one-line UserError."""
    from imgrestore.weights.dncnn_import import read_dncnn

    blob = data.draw(st.one_of(mutated(legacy_pth), st.binary(max_size=64).map(lambda b: b"\x80\x02" + b)))
    outcome(read_dncnn, _file(blob, "w.pth"))


@FUZZ_SLOW
@given(data=st.data())
def test_fuzz_safetensors_loader(checkpoint_bytes, data):
    from imgrestore.registry import load_network
    from imgrestore.weights.checkpoint import read_checkpoint

    blob = data.draw(st.one_of(mutated(checkpoint_bytes), st.binary(max_size=64)))
    path = _file(blob, "w.safetensors")
    if outcome(read_checkpoint, path) is not None:
        outcome(load_network, path)
