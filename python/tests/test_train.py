"""liednet.train: the CLI's loop with a per-log-line callback; Ctrl-C writes a checkpoint and raises KeyboardInterrupt."""
import json
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import liednet

CONFIG = """name: tiny
manual_seed: 3
datasets:
  train:
    dataroot_gt: {root}/gt
    dataroot_lq: {root}/lq
    crop_size: 16
    use_flip: true
    use_rot: true
    batch_size_per_gpu: 2
    num_worker_per_gpu: 1
network_g: {{type: LIED, dim: 4, num_blocks: [1, 1, 1], num_refinement_blocks: 1}}
path:
  experiments_root: {root}/exp
train:
  optim_g: {{type: Adam, lr: !!float 1e-3}}
  scheduler: {{type: CosineAnnealingRestartLR, periods: [{total}], eta_min: !!float 1e-6}}
  total_iter: {total}
  pixel_opt: {{type: L1Loss, loss_weight: 1.0}}
logger:
  print_freq: 1
"""


def make_run(root, total):
    rng = np.random.default_rng(0)
    for d in ("gt", "lq"):
        (root / d).mkdir()
    for i in range(4):
        gt = rng.uniform(0, 1, (3, 32, 32))
        liednet.write_png(str(root / "gt" / f"{i}.png"), liednet.tensor(gt, dtype="float32"))
        liednet.write_png(str(root / "lq" / f"{i}.png"), liednet.tensor(gt * 0.3, dtype="float32"))
    cfg = root / "tiny.yml"
    cfg.write_text(CONFIG.format(root=root, total=total))
    return cfg


def test_train_calls_on_log_per_line(tmp_path):
    cfg = make_run(tmp_path, 4)
    lines = []
    liednet.train(str(cfg), on_log=lines.append)
    assert [d["iter"] for d in lines] == [1, 2, 3, 4] and all(d["log"] == "train" for d in lines)
    logged = [json.loads(s) for s in (tmp_path / "exp" / "train_log.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in d.items() if k != "log"} for d in lines] == logged
    assert (tmp_path / "exp" / "checkpoints").is_dir()


def test_errors_in_on_log_and_config(tmp_path):
    cfg = make_run(tmp_path, 2)

    def boom(d):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        liednet.train(str(cfg), on_log=boom)
    with pytest.raises(FileNotFoundError):
        liednet.train(str(tmp_path / "none.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\n")
    with pytest.raises(ValueError, match="bad.yml"):
        liednet.train(str(bad))


def test_ctrl_c_in_training_writes_a_checkpoint(tmp_path):
    cfg = make_run(tmp_path, 50)
    code = f"""
        import os, signal, liednet
        def on_log(d):
            if d["iter"] == 3:
                os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, during the run
        try:
            liednet.train({str(cfg)!r}, on_log=on_log)
            print("finished")
        except KeyboardInterrupt:
            print("KeyboardInterrupt")
    """
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().splitlines()[-1] == "KeyboardInterrupt", p.stdout
    assert "interrupted (SIGINT) after iteration 4" in p.stdout or "interrupted (SIGINT) after iteration 3" in p.stdout
    ckpts = sorted(pathlib.Path(tmp_path / "exp" / "checkpoints").glob("ckpt_*.safetensors"))
    assert ckpts and ckpts[-1].name in ("ckpt_00000003.safetensors", "ckpt_00000004.safetensors")
