"""Grayscale mp4 read/write with PyAV (FFmpeg's libx264 bundled in the wheel)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_video", "read_video", "probe_video"]


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 25, *, crf: int = 18) -> Path:
    """``(T, H, W)`` uint8 -> H.264 mp4 (libx264 stores it as yuv420p; the gray image is the luma plane)."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W) uint8; got {frames.shape} {frames.dtype}")
    path = Path(path)
    with av.open(str(path), mode="w") as c:
        st = c.add_stream("libx264", rate=fps)
        st.width, st.height = int(frames.shape[2]), int(frames.shape[1])
        st.pix_fmt = "gray"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="gray")):
                c.mux(pkt)
        for pkt in st.encode():
            c.mux(pkt)
    return path


def _luma(frame) -> np.ndarray:
    """The luma plane as (H, W) uint8, without a range conversion (libx264 stores our gray frames as the
    Y plane of yuv420p; swscale's gray conversion would stretch 16..235 to 0..255)."""
    name = frame.format.name
    if name.startswith(("yuv", "yuvj", "gray", "nv")) and not name.startswith("gray16"):
        p = frame.planes[0]
        return np.frombuffer(p, np.uint8).reshape(frame.height, p.line_size)[:, :frame.width].copy()
    return frame.to_ndarray(format="gray")


def read_video(path: str | os.PathLike) -> np.ndarray:
    """mp4 -> ``(T, H, W)`` uint8 grayscale (colour video is converted to gray); ValueError naming the file
    if it cannot be decoded or has no frames."""
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as c:
            frames = [_luma(f) for f in c.decode(video=0)]
    except Exception as e:  # av raises its own FFmpeg error classes: re-raise with the file name
        raise ValueError(f"cannot read video file {path}: {e}") from e
    if not frames:
        raise ValueError(f"{path}: video has no frames")
    return np.stack(frames)


def probe_video(path: str | os.PathLike) -> tuple[int, int, int]:
    """(num_frames, height, width) from the container header, without decoding (num_frames may be 0
    when the container does not store it)."""
    import av

    try:
        with av.open(str(path)) as c:
            st = c.streams.video[0]
            return int(st.frames), int(st.codec_context.height), int(st.codec_context.width)
    except Exception as e:  # re-raise with the file name
        raise ValueError(f"cannot read video file {path}: {e}") from e
