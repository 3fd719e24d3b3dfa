"""The window's rendered frames live on disk, compressed: exact, and memory flat in the frame count."""

import threading
import tracemalloc

import numpy as np

from poseanything_studio.rendering.export import FrameStore


def _frame(i: int, size=(832, 480)) -> np.ndarray:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    return np.dstack([(x + 3 * i) % 256, (y + i) % 256, (x ^ y) % 256]).astype(np.uint8)


def test_frames_come_back_exactly():
    store = FrameStore()
    frames = [_frame(i, (96, 64)) for i in range(7)]
    for f in frames:
        store.append(f)
    assert len(store) == 7
    assert all(np.array_equal(a, b) for a, b in zip(store, frames, strict=True))
    assert np.array_equal(store[-1], frames[-1])


def test_memory_stays_flat_as_frames_are_added():
    store = FrameStore()
    frame = _frame(0)
    tracemalloc.start()
    try:
        for i in range(40):
            store.append(np.roll(frame, i, axis=1))
            if i == 9:
                after_10 = tracemalloc.get_traced_memory()[0]
        after_40 = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    raw = frame.nbytes  # 1.2 MB a frame at 832x480
    assert after_40 - after_10 < raw  # 30 more frames held add less than one raw frame to memory
    assert store.nbytes_on_disk < 40 * raw


def test_reads_from_two_threads_do_not_mix_frames():
    store = FrameStore()
    frames = [_frame(i, (64, 32)) for i in range(20)]
    for f in frames:
        store.append(f)
    bad = []

    def read_all():
        for _ in range(5):
            bad.extend(i for i in range(20) if not np.array_equal(store[i], frames[i]))

    threads = [threading.Thread(target=read_all) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
