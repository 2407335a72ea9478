"""``imgrestore synth`` end to end: pairs, manifest, resume, shards, bit depth, bad input."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from imgrestore.io import read_image, write_image

SPEC = "bicubic:scale=2 | awgn:sigma=0-30 | jpeg:quality=60-95"


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def _manifest(out: Path) -> list[dict]:
    return [json.loads(l) for l in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture
def src(tmp_path):
    """A small folder of clean images, one too small and one corrupt."""
    d = tmp_path / "src"
    rng = np.random.default_rng(0)
    for k in range(3):
        write_image(d / f"img{k}.png", rng.random((80, 96, 3), dtype=np.float32))
    write_image(d / "gray.png", rng.random((70, 70), dtype=np.float32))
    write_image(d / "tiny.png", rng.random((20, 20, 3), dtype=np.float32))
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    return d


def test_synth_writes_pairs_and_manifest(cli, src, tmp_path):
    out = tmp_path / "pairs"
    code, _, err = cli("synth", SPEC, "--input", str(src), "--out", str(out), "--count", "10", "--patch", "32",
                       "--seed", "3", "--device", "cpu", "--batch", "4")
    assert code == 0, err
    assert "tiny.png" in err and "smaller than" in err and "corrupt.png" in err
    entries = _manifest(out)
    assert [e["index"] for e in entries] == list(range(10))
    e = entries[0]
    assert read_image(out / e["input"]).shape == (16, 16, 3)
    assert read_image(out / e["target"]).shape == (32, 32, 3)
    assert [p["name"] for p in e["params"]] == ["bicubic", "awgn", "jpeg"]
    assert e["source"] in {"img0.png", "img1.png", "img2.png", "gray.png"} and e["seed"] == 3
    assert {x["source"] for x in entries} == {"img0.png", "img1.png", "img2.png", "gray.png"}
    # the target really is the crop of the source named in the manifest
    y, x, h, w = e["crop"]
    srcimg = read_image(src / e["source"])
    if srcimg.shape[2] == 1:
        srcimg = np.repeat(srcimg, 3, axis=2)
    assert np.abs(read_image(out / e["target"]) - srcimg[y : y + h, x : x + w]).max() <= 0.5 / 255 + 1e-6


def test_resume_after_kill_gives_identical_files(cli, src, tmp_path):
    args = ["synth", SPEC, "--input", str(src), "--count", "12", "--patch", "32", "--device", "cpu", "--batch", "5"]
    full = tmp_path / "full"
    assert cli(*args, "--out", str(full))[0] == 0
    part = tmp_path / "part"
    assert cli(*args, "--out", str(part))[0] == 0
    # simulate a kill: drop the manifest, cut the journal mid-line, leave a temp file and lose a pair
    (part / "manifest.jsonl").unlink()
    (part / ".synth" / "shard-0-of-1.done").unlink()
    j = part / ".synth" / "shard-0-of-1.jsonl"
    lines = j.read_text().splitlines(keepends=True)
    j.write_text("".join(lines[:6]) + lines[6][:20])
    for name in ("00000007.png", "00000009.png"):
        (part / "input" / name).unlink()
    (part / "input" / ".00000009.tmp.png").write_bytes(b"half")
    code, _, err = cli(*args, "--out", str(part))
    assert code == 0, err
    assert "6 already there" in err
    assert _files(part) == _files(full)
    assert _manifest(part) == _manifest(full)
    assert not list(part.rglob(".*.tmp*"))


def test_shards_partition_the_run(cli, src, tmp_path):
    base = ["synth", SPEC, "--input", str(src), "--count", "9", "--patch", "32", "--device", "cpu"]
    one = tmp_path / "one"
    assert cli(*base, "--out", str(one), "--batch", "4")[0] == 0
    sharded = tmp_path / "sharded"
    code, _, err = cli(*base, "--out", str(sharded), "--shard", "0/3", "--batch", "2")
    assert code == 0 and "when all 3 shards" in err
    assert not (sharded / "manifest.jsonl").exists()
    for i in (2, 1):
        assert cli(*base, "--out", str(sharded), "--shard", f"{i}/3", "--batch", "3")[0] == 0
    assert _files(sharded) == _files(one)
    assert _manifest(sharded) == _manifest(one)


def test_sixteen_bit_and_builtin_images(cli, tmp_path):
    out = tmp_path / "b16"
    code, _, err = cli("synth", "awgn:sigma=10", "--out", str(out), "--count", "3", "--patch", "64",
                       "--bits", "16", "--device", "cpu", "--save-side")
    assert code == 0, err
    e = _manifest(out)[0]
    assert e["source"].startswith("skimage:")
    head = (out / e["input"]).read_bytes()[:26]
    assert head[12:16] == b"IHDR" and head[24] == 16 and head[25] == 2  # 16-bit RGB PNG
    levels = read_image(out / e["input"]) * 65535
    assert np.abs(levels - np.rint(levels)).max() < 1e-2 and len(np.unique(levels)) > 256
    sigma = np.load(out / e["side"]["sigma"])
    assert sigma.shape == (64, 64, 1) and np.allclose(sigma, 10 / 255)


def test_changed_settings_are_refused(cli, tmp_path):
    out = tmp_path / "o"
    assert cli("synth", "awgn", "--out", str(out), "--count", "2", "--patch", "32", "--device", "cpu")[0] == 0
    code, _, err = cli("synth", "awgn", "--out", str(out), "--count", "2", "--patch", "32", "--seed", "9",
                       "--device", "cpu")
    assert code == 2 and "seed" in err and "another --out" in err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["bogus"], "unknown degradation 'bogus'"),
        (["awgn:sigma=-1"], "awgn:sigma: -1 is out of range"),
        (["jpeg:quality=101"], "jpeg:quality: 101 is out of range"),
        (["awgn", "--count", "0"], "--count 0"),
        (["awgn", "--count", "-3"], "--count -3"),
        (["awgn", "--shard", "3/3"], "--shard '3/3'"),
    ],
)
def test_bad_input_one_line_errors(cli, tmp_path, args, needle):
    code, out, err = cli("synth", *args, "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "input").exists()


def test_bad_paths(cli, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    code, _, err = cli("synth", "awgn", "--out", str(f), "--device", "cpu")
    assert code == 2 and "is a file" in err
    code, _, err = cli("synth", "awgn", "--out", str(f / "sub"), "--device", "cpu")
    assert code == 2 and "not writable" in err and str(f / "sub") in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli("synth", "awgn", "--input", str(empty), "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "no images" in err and str(empty) in err
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        code, _, err = cli("synth", "awgn", "--out", str(ro / "x"), "--device", "cpu")
        assert code == 2 and "not writable" in err


def test_cuda_without_gpu(cli, tmp_path):
    from imgrestore.backend import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    code, _, err = cli("synth", "awgn", "--out", str(tmp_path / "o"), "--device", "cuda")
    assert code == 2 and "--device cuda: no GPU available" in err and len(err.strip().splitlines()) == 1
