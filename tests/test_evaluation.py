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


def test_ssim_of_two_flat_pictures_by_hand():
    # Flat pictures have no variance, so SSIM is its luminance term: (2ab + C1) / (a^2 + b^2 + C1), C1 = (0.01*255)^2.
    a, b, c1 = 5.0, 15.0, (0.01 * 255) ** 2  # dark, so C1 matters: 0.610 (without C1 it would be 0.600)
    flat_a, flat_b = np.full((16, 16, 3), a, np.uint8), np.full((16, 16, 3), b, np.uint8)
    assert ssim(flat_a, flat_b) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1))


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


# -- LPIPS and FVD from local weights (random weights in the published key layouts) ---------------------------
I3D_MIXED = {"Mixed_3b": (192, [64, 96, 128, 16, 32, 32]), "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
             "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]), "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
             "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]), "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
             "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]), "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
             "Mixed_5c": (832, [384, 192, 384, 48, 128, 128])}


def _unit(state, name, cin, cout, k, gen):
    import torch

    state[f"{name}.conv3d.weight"] = torch.randn(cout, cin, *k, generator=gen) / (cin * np.prod(k)) ** 0.5
    state[f"{name}.bn.weight"], state[f"{name}.bn.bias"] = torch.ones(cout), torch.zeros(cout)
    state[f"{name}.bn.running_mean"], state[f"{name}.bn.running_var"] = torch.zeros(cout), torch.ones(cout)


def _i3d_weights(path):
    """Random weights with piergiaj/pytorch-i3d's key names and shapes, saved as a weights-only .pt."""
    import torch

    gen = torch.Generator().manual_seed(0)
    state = {}
    _unit(state, "Conv3d_1a_7x7", 3, 64, (7, 7, 7), gen)
    _unit(state, "Conv3d_2b_1x1", 64, 64, (1, 1, 1), gen)
    _unit(state, "Conv3d_2c_3x3", 64, 192, (3, 3, 3), gen)
    for name, (cin, oc) in I3D_MIXED.items():
        for branch, a, b, k in (("b0", cin, oc[0], 1), ("b1a", cin, oc[1], 1), ("b1b", oc[1], oc[2], 3),
                                ("b2a", cin, oc[3], 1), ("b2b", oc[3], oc[4], 3), ("b3b", cin, oc[5], 1)):
            _unit(state, f"{name}.{branch}", a, b, (k, k, k), gen)
    state["logits.conv3d.weight"] = torch.randn(400, 1024, 1, 1, 1, generator=gen) / 32
    state["logits.conv3d.bias"] = torch.zeros(400)
    torch.save(state, path)


def _lpips_weights(folder):
    """Random AlexNet weights as a saved lpips.LPIPS(net='alex') names them, and the lin heads apart (alex.pth)."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(0)
    net = {}
    for s, (i, cin, cout, k) in enumerate([(0, 3, 64, 11), (3, 64, 192, 5), (6, 192, 384, 3), (8, 384, 256, 3),
                                           (10, 256, 256, 3)], 1):
        net[f"net.slice{s}.{i}.weight"] = torch.randn(cout, cin, k, k, generator=gen) / (cin * k * k) ** 0.5
        net[f"net.slice{s}.{i}.bias"] = torch.zeros(cout)
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for k, c in
           enumerate([64, 192, 384, 256, 256])}
    save_file(net, str(folder / "alexnet.safetensors"))
    torch.save(lin, folder / "alex.pth")
    return [folder / "alexnet.safetensors", folder / "alex.pth"]


def test_frechet_distance_by_hand():
    from poseanything_studio.evaluation import frechet_distance

    a, b = np.array([[0.0], [2.0]]), np.array([[3.0], [5.0], [7.0]])  # means 1 and 5, variances 2 and 4
    assert frechet_distance(a, b) == pytest.approx(16 + 2 + 4 - 2 * np.sqrt(8))
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)


def test_same_padding_gives_tensorflow_output_sizes():
    import torch
    import torch.nn.functional as F

    from poseanything_studio.evaluation import _same_pad

    for size in (5, 9, 16, 224):
        for k, s in ((7, 2), (3, 1), (3, 2), (2, 2), (1, 1)):
            x = _same_pad(torch.zeros(1, 1, size, 1, 1), (k, 1, 1), (s, 1, 1))
            assert F.max_pool3d(x, (k, 1, 1), (s, 1, 1)).shape[2] == -(-size // s)  # ceil(size / stride), as 'SAME'


def test_lpips_is_zero_for_equal_frames_grows_with_noise_and_is_symmetric(tmp_path):
    from poseanything_studio.evaluation import LpipsNet

    net = LpipsNet(_lpips_weights(tmp_path))
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    small, large = (np.clip(truth + rng.normal(0, s, truth.shape), 0, 255).astype(np.uint8) for s in (10, 60))
    assert net(truth, truth) == [0.0, 0.0]
    d_small, d_large = net(small, truth), net(large, truth)
    assert all(0 < a < b for a, b in zip(d_small, d_large, strict=True))
    assert net(truth, small) == pytest.approx(d_small)


def test_eval_with_local_lpips_and_i3d_weights(tmp_path, capsys):
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for name, value in (("a", 90), ("b", 160)):
        _clip(tmp_path / "pred" / f"{name}.mp4", value)
        _clip(tmp_path / "gt" / f"{name}.mp4", value + 20)
    _i3d_weights(tmp_path / "i3d.pt")
    lpips = [str(p) for p in _lpips_weights(tmp_path)]
    args = ["eval", str(tmp_path / "pred"), str(tmp_path / "gt"), "--csv", str(tmp_path / "m.csv"),
            "--frames-csv", str(tmp_path / "f.csv"), "--i3d-weights", str(tmp_path / "i3d.pt"),
            "--lpips-weights", *lpips]
    assert main(args) == 0
    assert "LPIPS" in capsys.readouterr().out
    rows = {r["clip"]: r for r in csv.DictReader((tmp_path / "m.csv").open())}
    assert float(rows["a"]["lpips"]) > 0 and rows["a"]["fvd"] == "" and float(rows["ALL"]["fvd"]) > 0
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 10


def test_missing_or_wrong_weights_are_one_line(tmp_path, capsys):
    _clip(tmp_path / "p.mp4", 100)
    _clip(tmp_path / "g.mp4", 100)
    assert main(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4"), "--lpips-weights", "nope.pth"]) == 2
    assert "nope.pth" in capsys.readouterr().err
    weights = _lpips_weights(tmp_path)
    assert main(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4"), "--lpips-weights", str(weights[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lin0.weight" in err
    assert main(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4"), "--i3d-weights", str(weights[0])]) == 2
    assert "--i3d-weights" in capsys.readouterr().err
