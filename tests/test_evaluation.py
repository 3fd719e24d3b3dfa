"""`eval`: metrics against hand-computed values, tables out, bad inputs in one line."""

import csv

import numpy as np
import pytest

from poseanything_studio.cli import main
from poseanything_studio.evaluation import l1, psnr, ssim
from poseanything_studio.rendering.export import FrameWriter, output_target


def test_psnr_and_l1_by_hand():
    truth = np.zeros((4, 4, 3), np.uint8)
    pred = truth.copy()
    pred[0, 0, 0] = 48  # one value off by 48: MSE = 48**2 / 48 = 48
    assert psnr(pred, truth) == pytest.approx(10 * np.log10(255**2 / 48))
    assert l1(pred, truth) == pytest.approx(48 / 48 / 255)
    assert psnr(truth, truth) == float("inf")


def test_ssim_is_one_for_equal_pictures_and_lower_for_noise():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    noisy = np.clip(truth + rng.normal(0, 40, truth.shape), 0, 255).astype(np.uint8)
    assert ssim(truth, truth) == pytest.approx(1.0)
    assert ssim(noisy, truth) < 0.9


def _clip(path, value, frames=5):
    with FrameWriter(output_target(str(path)), 12, (64, 32), frames) as writer:
        for _ in range(frames):
            writer.write(np.full((32, 64, 3), value, np.uint8))


def test_eval_command_writes_a_table_and_csv(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    _clip(tmp_path / "pred" / "a.mp4", 100)
    _clip(tmp_path / "gt" / "a.mp4", 100)
    _clip(tmp_path / "pred" / "b.mp4", 110)
    _clip(tmp_path / "gt" / "b.mp4", 100)
    assert main(["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--csv", str(tmp_path / "m.csv")]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "ALL" in out
    rows = {r["clip"]: r for r in csv.DictReader((tmp_path / "m.csv").open())}
    assert float(rows["a"]["l1"]) < 0.005 and float(rows["b"]["l1"]) == pytest.approx(10 / 255, abs=0.01)
    assert int(rows["ALL"]["frames"]) == 10


def test_mismatched_clips_give_one_line(tmp_path, capsys):
    _clip(tmp_path / "p.mp4", 100, frames=5)
    _clip(tmp_path / "g.mp4", 100, frames=9)
    assert main(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert "5 frames" in err and "9" in err and len(err.splitlines()) == 1
    assert main(["eval", str(tmp_path / "nope.mp4"), str(tmp_path / "g.mp4")]) == 2
