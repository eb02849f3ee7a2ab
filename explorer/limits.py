"""How much the explorer holds and draws, and the process tuning that makes big tensors fast."""

from __future__ import annotations

import ctypes

#: Above this many elements the explorer refuses a shape (memory for input, output, temporaries).
MAX_ELEMENTS = 64 * 1024 * 1024
#: At most this many statistics groups get their own histogram overlay.
MAX_OVERLAYS = 6
#: The value view shows at most this many samples and channels, each tile at most TILE_PIXELS wide.
MAX_TILES, TILE_PIXELS = 8, 48
#: Groupings whose moments are kept per input (a new eps or weight reuses them).
MOMENTS_KEPT = 4
#: Training steps run to fill running statistics for eval mode ("warmed").
WARMUP_STEPS = 20
#: Generated inputs, loaded files, warmed-up running statistics and input statistics kept.
INPUTS_KEPT, FILES_KEPT, RUNNING_KEPT, INPUT_STATS_KEPT = 2, 2, 4, 4
#: The block view draws at most this many samples.
MAX_BLOCKS = 6


def reuse_freed_memory():
    """Ask glibc to keep freed large blocks for reuse instead of returning them to the system:
    each computation allocates arrays of tens of MB, and fresh pages cost more than the math
    (page faults); with this an 8.4M-element update takes about half as long. No-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: large blocks from the heap, not fresh mmaps
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed heap memory for the next update
    except (OSError, AttributeError):
        pass
