"""`eval`: metrics against hand-computed values, tables out, bad inputs in one line."""

import csv

import numpy as np
import pytest

from poseanything_studio.commands import main
from poseanything_studio.commands.evaluate import l1, psnr, ssim
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
I3D_MIXED = {
    "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
    "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
    "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
    "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
    "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
    "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
    "Mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
}


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
        for branch, a, b, k in (
            ("b0", cin, oc[0], 1),
            ("b1a", cin, oc[1], 1),
            ("b1b", oc[1], oc[2], 3),
            ("b2a", cin, oc[3], 1),
            ("b2b", oc[3], oc[4], 3),
            ("b3b", cin, oc[5], 1),
        ):
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
    for s, (i, cin, cout, k) in enumerate(
        [(0, 3, 64, 11), (3, 64, 192, 5), (6, 192, 384, 3), (8, 384, 256, 3), (10, 256, 256, 3)], 1
    ):
        net[f"net.slice{s}.{i}.weight"] = torch.randn(cout, cin, k, k, generator=gen) / (cin * k * k) ** 0.5
        net[f"net.slice{s}.{i}.bias"] = torch.zeros(cout)
    lin = {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for k, c in enumerate([64, 192, 384, 256, 256])
    }
    save_file(net, str(folder / "alexnet.safetensors"))
    torch.save(lin, folder / "alex.pth")
    return [folder / "alexnet.safetensors", folder / "alex.pth"]


def test_frechet_distance_by_hand():
    from poseanything_studio.commands.evaluate import frechet_distance

    a, b = np.array([[0.0], [2.0]]), np.array([[3.0], [5.0], [7.0]])  # means 1 and 5, variances 2 and 4
    assert frechet_distance(a, b) == pytest.approx(16 + 2 + 4 - 2 * np.sqrt(8))
    x = np.random.default_rng(0).normal(size=(50, 3))
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)


def test_same_padding_gives_tensorflow_output_sizes():
    import torch
    import torch.nn.functional as F

    from poseanything_studio.model.eval_networks import _same_pad

    for size in (5, 9, 16, 224):
        for k, s in ((7, 2), (3, 1), (3, 2), (2, 2), (1, 1)):
            x = _same_pad(torch.zeros(1, 1, size, 1, 1), (k, 1, 1), (s, 1, 1))
            assert F.max_pool3d(x, (k, 1, 1), (s, 1, 1)).shape[2] == -(-size // s)  # ceil(size / stride), as 'SAME'


def test_lpips_is_zero_for_equal_frames_grows_with_noise_and_is_symmetric(tmp_path):
    from poseanything_studio.model.eval_networks import LpipsNet

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
        _clip(tmp_path / "pred" / f"{name}.mp4", value, frames=17)
        _clip(tmp_path / "gt" / f"{name}.mp4", value + 20, frames=17)
    _i3d_weights(tmp_path / "i3d.pt")
    lpips = [str(p) for p in _lpips_weights(tmp_path)]
    args = [
        "eval",
        str(tmp_path / "pred"),
        str(tmp_path / "gt"),
        "--csv",
        str(tmp_path / "m.csv"),
        "--frames-csv",
        str(tmp_path / "f.csv"),
        "--i3d-weights",
        str(tmp_path / "i3d.pt"),
        "--lpips-weights",
        *lpips,
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "LPIPS" in out and "FVD clips" in out
    assert "warning: FVD from 2 clips of 16 frames" in err and "2048" in err  # below the published protocol
    rows = {r["clip"]: r for r in csv.DictReader((tmp_path / "m.csv").open())}
    assert float(rows["a"]["lpips"]) > 0 and rows["a"]["fvd"] == "" and float(rows["ALL"]["fvd"]) > 0
    assert rows["ALL"]["fvd_clips"] == "2"  # one 16-frame clip per 17-frame video; the odd frame is left out
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 1 + 34


class _FrameIndexNet:
    """Stands in for I3D: records the clips it is given; a clip's features are its first frame and its mean."""

    def __init__(self):
        self.shapes = []

    def __call__(self, clips):
        self.shapes.append(clips.shape)
        return np.stack([[float(c[0].mean()), float(c.mean())] for c in clips]).reshape(len(clips), 2)


def _ramp(path, start, frames):
    """A video whose frame f is flat grey at start + 3f."""
    with FrameWriter(output_target(str(path)), 12, (32, 32), frames) as writer:
        for f in range(frames):
            writer.write(np.full((32, 32, 3), start + 3 * f, np.uint8))


def test_fvd_cuts_every_video_into_16_frame_clips(tmp_path, capsys):
    from poseanything_studio.commands.evaluate import evaluate, frechet_distance, fvd_clips, read_clip

    for side, start in (("pred", 10), ("gt", 12)):
        (tmp_path / side).mkdir()
        _ramp(tmp_path / side / "long.mp4", start, 40)  # 2 clips (frames 0-15, 16-31), 8 frames left out
        _ramp(tmp_path / side / "short.mp4", start + 50, 16)  # exactly one clip
    net = _FrameIndexNet()
    rows, _ = evaluate(tmp_path / "pred", tmp_path / "gt", i3d_net=net)
    assert [s[1:2] for s in net.shapes] == [(16,)] * 4 and sorted(s[0] for s in net.shapes) == [1, 1, 2, 2]
    assert rows[-1]["fvd_clips"] == 3 and "fvd" not in rows[0]
    clips = {
        side: np.concatenate([fvd_clips(read_clip(tmp_path / side / f"{n}.mp4")) for n in ("long", "short")])
        for side in ("pred", "gt")
    }
    assert [len(c) for c in fvd_clips(read_clip(tmp_path / "pred" / "long.mp4"))] == [16, 16]
    expected = frechet_distance(net(clips["pred"]), net(clips["gt"]))
    assert rows[-1]["fvd"] == pytest.approx(expected)
    assert "warning: FVD from 3 clips" in capsys.readouterr().err


def test_fvd_warns_only_below_the_protocol_clip_count():
    from poseanything_studio.commands.evaluate import FVD_PROTOCOL_CLIPS, fvd_warning

    assert FVD_PROTOCOL_CLIPS == 2048  # StyleGAN-V's fvd2048_16f
    assert "singular" in fvd_warning(256) and "2048" in fvd_warning(1000) and "singular" not in fvd_warning(1000)
    assert fvd_warning(2048) is None


def test_fvd_of_videos_shorter_than_a_clip_is_one_line(tmp_path, capsys):
    _clip(tmp_path / "p.mp4", 100, frames=9)
    _clip(tmp_path / "g.mp4", 100, frames=9)
    _i3d_weights(tmp_path / "i3d.pt")
    args = ["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4"), "--i3d-weights", str(tmp_path / "i3d.pt")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "16 frames" in err and "give 0" in err


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


# -- LPIPS and I3D against the reference networks' structure on shared weights ----------------------------------
# The references below are built from torch.nn modules the way the published code builds them (the lpips
# package's ScalingLayer, torchvision's AlexNet features cut into the five lpips slices, NetLinLayer and
# spatial_average; piergiaj/pytorch-i3d's Unit3D, MaxPool3dSamePadding, InceptionModule and its avg-pool and
# logits head), and take the weights through load_state_dict(strict=True): a key or shape our loader reads
# differently from the published layout fails here, as does any difference in the arithmetic.
def _reference_lpips():
    from torch import nn

    class Lpips(nn.Module):
        def __init__(self):
            super().__init__()
            conv, relu, pool = nn.Conv2d, nn.ReLU, lambda: nn.MaxPool2d(3, 2)
            self.net = nn.Module()
            self.net.slice1 = nn.Sequential(conv(3, 64, 11, 4, 2), relu())
            self.net.slice2 = nn.Sequential(*[nn.Identity()] * 2, pool(), conv(64, 192, 5, padding=2), relu())
            self.net.slice3 = nn.Sequential(*[nn.Identity()] * 5, pool(), conv(192, 384, 3, padding=1), relu())
            self.net.slice4 = nn.Sequential(*[nn.Identity()] * 8, conv(384, 256, 3, padding=1), relu())
            self.net.slice5 = nn.Sequential(*[nn.Identity()] * 10, conv(256, 256, 3, padding=1), relu())
            for k, c in enumerate([64, 192, 384, 256, 256]):
                setattr(self, f"lin{k}", nn.Module())
                getattr(self, f"lin{k}").model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False))

        def forward(self, a, b):
            import torch

            shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
            scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
            xa, xb, total = (a - shift) / scale, (b - shift) / scale, 0
            for k in range(5):
                block = getattr(self.net, f"slice{k + 1}")
                xa, xb = block(xa), block(xb)
                na = xa / (xa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                nb = xb / (xb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                total = total + getattr(self, f"lin{k}").model((na - nb) ** 2).mean([2, 3], keepdim=True)
            return total.flatten()

    return Lpips().eval()


def test_lpips_matches_the_reference_network_on_shared_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    from poseanything_studio.model.eval_networks import LpipsNet

    paths = _lpips_weights(tmp_path)
    state = {**load_file(str(paths[0])), **torch.load(paths[1], weights_only=True)}
    reference = _reference_lpips()
    reference.load_state_dict(state, strict=True)
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 255, (3, 80, 96, 3), dtype=np.uint8)
    pred = np.clip(truth + rng.normal(0, 30, truth.shape), 0, 255).astype(np.uint8)
    with torch.no_grad():
        a, b = (torch.from_numpy(c).permute(0, 3, 1, 2).float() / 127.5 - 1 for c in (pred, truth))
        expected = reference(a, b).tolist()
    assert min(expected) > 0
    assert LpipsNet(paths)(pred, truth) == pytest.approx(expected, rel=1e-5)


def _reference_i3d():
    import torch.nn.functional as F
    from torch import nn

    def same(x, kernel, stride):  # pytorch-i3d's compute_pad, per dimension
        pads = []
        for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
            total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
            pads = [total // 2, total - total // 2] + pads
        return F.pad(x, pads)

    class Pool(nn.MaxPool3d):
        def forward(self, x):
            return super().forward(same(x, self.kernel_size, self.stride))

    class Unit(nn.Module):
        def __init__(self, cin, cout, k, stride=(1, 1, 1), bn=True):
            super().__init__()
            self.k, self.stride, self.bn_on = (k, k, k) if isinstance(k, int) else k, stride, bn
            self.conv3d = nn.Conv3d(cin, cout, self.k, stride, bias=not bn)
            if bn:
                self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01)

        def forward(self, x):
            x = self.conv3d(same(x, self.k, self.stride))
            return F.relu(self.bn(x)) if self.bn_on else x

    class Mixed(nn.Module):
        def __init__(self, cin, oc):
            super().__init__()
            self.b0, self.b1a, self.b1b = Unit(cin, oc[0], 1), Unit(cin, oc[1], 1), Unit(oc[1], oc[2], 3)
            self.b2a, self.b2b = Unit(cin, oc[3], 1), Unit(oc[3], oc[4], 3)
            self.b3a, self.b3b = Pool((3, 3, 3), (1, 1, 1)), Unit(cin, oc[5], 1)

        def forward(self, x):
            import torch

            return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)

    class InceptionI3d(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [
                ("Conv3d_1a_7x7", Unit(3, 64, 7, (2, 2, 2))),
                ("MaxPool3d_2a_3x3", Pool((1, 3, 3), (1, 2, 2))),
                ("Conv3d_2b_1x1", Unit(64, 64, 1)),
                ("Conv3d_2c_3x3", Unit(64, 192, 3)),
                ("MaxPool3d_3a_3x3", Pool((1, 3, 3), (1, 2, 2))),
            ]
            for name, (cin, oc) in I3D_MIXED.items():
                if name == "Mixed_4b":
                    layers.append(("MaxPool3d_4a_3x3", Pool((3, 3, 3), (2, 2, 2))))
                if name == "Mixed_5b":
                    layers.append(("MaxPool3d_5a_2x2", Pool((2, 2, 2), (2, 2, 2))))
                layers.append((name, Mixed(cin, oc)))
            for name, layer in layers:
                self.add_module(name, layer)
            self.order = [name for name, _ in layers]
            self.avg_pool = nn.AvgPool3d((2, 7, 7), (1, 1, 1))
            self.logits = Unit(1024, 400, 1, bn=False)

        def forward(self, x):
            for name in self.order:
                x = getattr(self, name)(x)
            return self.logits(self.avg_pool(x)).squeeze(3).squeeze(3).mean(2)  # TF-Hub's Mean over time

    return InceptionI3d().eval()


def test_i3d_logits_match_the_reference_network_on_shared_weights(tmp_path):
    import torch

    from poseanything_studio.model.eval_networks import I3dNet

    _i3d_weights(tmp_path / "i3d.pt")
    state = torch.load(tmp_path / "i3d.pt", weights_only=True)
    for key in [k for k in state if k.endswith("running_var")]:  # non-trivial batch-norm statistics
        state[key] = torch.rand(state[key].shape, generator=torch.Generator().manual_seed(len(key))) + 0.5
        state[key.replace("running_var", "running_mean")] = state[key] - 1
    torch.save(state, tmp_path / "i3d.pt")
    reference = _reference_i3d()
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert unexpected == [] and all(k.endswith("num_batches_tracked") for k in missing)
    x = torch.rand(1, 3, 16, 224, 224, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        expected = reference(x)
    ours = I3dNet([tmp_path / "i3d.pt"]).logits(x)
    assert expected.abs().max() > 1e-3
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))


def _one_error_line(args, capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def test_a_video_past_the_read_limit_is_refused_from_its_header_before_a_frame_is_decoded(
    tmp_path, capsys, monkeypatch
):
    import imageio_ffmpeg

    from poseanything_studio import videoio

    _clip(tmp_path / "p.mp4", 100, frames=9)
    _clip(tmp_path / "g.mp4", 100, frames=9)
    decoded = []
    real = imageio_ffmpeg.read_frames

    def counting(*args, **kwargs):
        frames = real(*args, **kwargs)
        yield next(frames)  # the header
        for buffer in frames:
            decoded.append(1)
            yield buffer

    monkeypatch.setattr(imageio_ffmpeg, "read_frames", counting)
    monkeypatch.setattr(videoio, "MAX_VIDEO_PIXELS", 8 * 64 * 32)  # one frame fewer than the clip holds
    err = _one_error_line(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4")], capsys)
    assert err.startswith(f"error: {tmp_path / 'p.mp4'}: frames x size: 9 frames of 64x32") and "at most" in err
    assert decoded == []
    monkeypatch.setattr(videoio, "header_frames", lambda meta, max_frames: 1)  # a header that says 1 frame
    err = _one_error_line(["eval", str(tmp_path / "p.mp4"), str(tmp_path / "g.mp4")], capsys)
    assert "frames x size: 9 frames of 64x32" in err and len(decoded) == 8  # stopped at the limit, not after


def test_png_frames_past_the_read_limit_are_refused_from_their_headers(tmp_path, capsys, monkeypatch):
    import cv2

    from poseanything_studio import videoio

    for side in ("pred", "gt"):
        (tmp_path / side).mkdir()
        for f in range(6):
            cv2.imwrite(str(tmp_path / side / f"{f:03d}.png"), np.zeros((32, 64, 3), np.uint8))
    monkeypatch.setattr(videoio, "MAX_VIDEO_PIXELS", 5 * 64 * 32)
    err = _one_error_line(["eval", str(tmp_path / "pred"), str(tmp_path / "gt")], capsys)
    assert err.startswith(f"error: {tmp_path / 'pred'}: frames x size: 6 PNG frames (up to 64x32)")


@pytest.mark.slow
def test_a_long_1080p_video_is_refused_in_one_line_under_a_memory_cap(tmp_path):
    import subprocess

    import imageio_ffmpeg
    from helpers import run_cli_capped

    long = tmp_path / "long.mp4"  # 504 frames of 1920x1088: 3.2 GB decoded, 30 KB on disk
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=1920x1088:r=24:d=21",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(long),
        ],
        check=True,
    )
    code, err, peak_mb = run_cli_capped(["eval", long, long, "--csv", tmp_path / "m.csv"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{long}: frames x size: 504 frames of 1920x1088" in err
    assert peak_mb < 400, f"refusing the video took {peak_mb:.0f} MB"
    assert not (tmp_path / "m.csv").exists()
