"""`imgrestore fit` under torchrun: 2 CPU processes (gloo), each rank its own samples.

Without BN, the DDP-averaged gradient of two ranks with batch B is the gradient of one process
with batch 2B over the same samples (the ranks' indices together are the single-process batch),
so the two runs end with the same weights up to float summation order.
"""

import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from test_train_fit import smooth_images, tensors  # noqa: E402


def test_torchrun_two_processes_equals_one_process_with_twice_the_batch(tmp_path):
    clean = smooth_images(tmp_path / "clean", 4)
    common = ["fit", "--plugin", "dncnn-s", "--net-config", "depth=3,features=4,bn=false", "--clean", str(clean),
              "--degrade", "awgn:sigma=25", "--iters", "4", "--patch", "16", "--lr", "1e-2", "--optimizer", "adam",
              "--device", "cpu", "--workers", "0", "--val-count", "2", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "imgrestore", *common, "--batch", "2", "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    assert ddp.stdout.count("fit: done") == 1          # rank 0 alone reports and writes
    assert "x 2 ranks" in ddp.stderr
    one = subprocess.run([sys.executable, "-m", "imgrestore", *common, "--batch", "4", "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = tensors(tmp_path / "ddp" / "model.safetensors"), tensors(tmp_path / "one" / "model.safetensors")
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
    # and the weights did move
    assert tensors(tmp_path / "ddp" / "checkpoint.safetensors")["optim/net/0/step"].item() == 4
