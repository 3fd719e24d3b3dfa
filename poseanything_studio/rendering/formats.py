"""The output formats a render can be exported to, and the ffmpeg arguments of each (imageio-ffmpeg's binary).

| kind | file | alpha | encoder |
| --- | --- | --- | --- |
| mp4 | `.mp4` | no | H.264 yuv420p (`libx264`): plays everywhere |
| gif | `.gif` | no | `gif`, one palette made for the whole clip, looping forever: to share |
| webm | `.webm` | the subject | VP9 (`libvpx-vp9`) yuva420p: the web, editors that read VP9 alpha |
| mov | `.mov` | the subject | ProRes 4444 (`prores_ks`) yuva444p10le: compositing in editing software |
| png | a folder of `.png` | the subject, or none | RGBA or RGB PNGs |

"Alpha: the subject" means the frame's pixels are the render and its alpha is the subject as the puppet placed
it: composited over other footage, only the character shows. Without alpha a frame is the full picture.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoFormat:
    """One kind of output file: its suffix, whether it can hold alpha (and does by default), its ffmpeg arguments."""

    kind: str
    suffix: str
    label: str
    alpha_capable: bool
    alpha_default: bool
    args: tuple[str, ...]  # encoder arguments without alpha
    alpha_args: tuple[str, ...] = ()  # encoder arguments with alpha

    def output_args(self, alpha: bool) -> list[str]:
        """ffmpeg's arguments after the input, up to the output file (the muxer named, whatever the file is called)."""
        return ["-an", *(self.alpha_args if alpha else self.args)]


MP4 = VideoFormat(
    "mp4",
    ".mp4",
    "MP4 video (H.264)",
    False,
    False,
    (
        "-vcodec",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "18",
        "-preset",
        "veryfast",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ),
)
# One palette for the whole clip (palettegen sees every frame first), dithered; -loop 0: loop forever.
GIF = VideoFormat(
    "gif",
    ".gif",
    "GIF, looping",
    False,
    False,
    (
        "-filter_complex",
        "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a",
        "-loop",
        "0",
        "-f",
        "gif",
    ),
)
_VP9 = ("-vcodec", "libvpx-vp9", "-b:v", "0", "-crf", "30", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4")
WEBM = VideoFormat(
    "webm",
    ".webm",
    "WebM VP9 with alpha",
    True,
    True,
    (*_VP9, "-pix_fmt", "yuv420p", "-f", "webm"),
    (*_VP9, "-pix_fmt", "yuva420p", "-auto-alt-ref", "0", "-f", "webm"),
)
_PRORES = ("-vcodec", "prores_ks", "-profile:v", "4444", "-vendor", "apl0")
MOV = VideoFormat(
    "mov",
    ".mov",
    "ProRes 4444 with alpha",
    True,
    True,
    (*_PRORES, "-pix_fmt", "yuv444p10le", "-f", "mov"),
    (*_PRORES, "-pix_fmt", "yuva444p10le", "-alpha_bits", "16", "-f", "mov"),
)

VIDEO_FORMATS = {f.kind: f for f in (MP4, GIF, WEBM, MOV)}
BY_SUFFIX = {f.suffix: f for f in VIDEO_FORMATS.values()}
ALPHA_CHOICES = ("subject", "none")


def video_format(kind: str) -> VideoFormat:
    """The format of `kind` ("mp4", "gif", "webm", "mov")."""
    return VIDEO_FORMATS[kind]


def alpha_default(kind: str) -> bool:
    """Whether an output of `kind` carries the subject's alpha unless told otherwise (WebM and ProRes do)."""
    return kind in VIDEO_FORMATS and VIDEO_FORMATS[kind].alpha_default


def alpha_capable(kind: str) -> bool:
    """Whether an output of `kind` can hold alpha (PNGs, WebM, ProRes)."""
    return kind == "png" or (kind in VIDEO_FORMATS and VIDEO_FORMATS[kind].alpha_capable)
