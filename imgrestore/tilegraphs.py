"""Replaying a fixed-shape window function through captured CUDA graphs, one per input shape.

Restoring an image runs the same network on many tiles of (mostly) one shape. Launching its ~40
kernels one by one from Python costs host time that a small tile cannot hide; a CUDA graph
replays them all with one launch. A graph reads and writes fixed addresses, so each captured
shape owns a static input buffer (the tile is copied into it) and a static output (copied out
before the next replay overwrites it). :class:`GraphRunner` does this bookkeeping; the capture
itself is the injected ``capture`` function (:func:`cuda_capture` on a GPU), so the bookkeeping
is tested on a CPU with a fake graph.

A graph stays valid while the function's parameters keep their storage (we never reassign
them: inference only) and the input shape and dtype match; anything else is a new key or a
:meth:`GraphRunner.reset`. torch.cuda.make_graphed_callables is for autograd (training) and
keeps no per-shape cache, hence this small class.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Captured:
    """One captured shape: write ``static_in``, call ``replay()``, read ``static_out``."""

    static_in: Any
    static_out: Any
    replay: Callable[[], None]


def cuda_capture(fn: Callable[[Any], Any], static_in: Any, warmup: int = 3) -> Captured:
    """Capture ``fn(static_in)`` in a CUDA graph, as torch's CUDA-graph notes require: warm-up
    iterations on a side stream first (cuDNN/cuBLAS pick their algorithms and workspaces, and
    torch.compile compiles, outside the capture), then the capture; returns its static tensors."""
    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(max(1, warmup)):
            fn(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = fn(static_in)
    return Captured(static_in, static_out, graph.replay)


class GraphRunner:
    """``runner(x)`` = ``fn(x)`` computed by replaying a graph captured for x's shape.

    Keys are (shape, dtype); the input is copied (and cast) into the key's static buffer, which
    the graph reads, and the result is cloned out of the static output before returning, so a
    caller may keep it across later replays. At most ``max_graphs`` shapes are kept (least
    recently used evicted): each holds its own memory pool of the network's activations.
    """

    def __init__(self, fn: Callable[[Any], Any], device: Any, dtype: Any,
                 capture: Callable[[Callable[[Any], Any], Any], Captured] = cuda_capture, max_graphs: int = 4) -> None:
        self.fn, self.device, self.dtype, self.capture = fn, device, dtype, capture
        self.max_graphs = max(1, max_graphs)
        self.graphs: OrderedDict[tuple, Captured] = OrderedDict()
        self.captures = 0  # how many graphs were captured (for tests and reports)

    def key(self, x: Any) -> tuple:
        return tuple(x.shape), self.dtype

    def __call__(self, x: Any) -> Any:
        import torch

        key = self.key(x)
        entry = self.graphs.get(key)
        if entry is None:
            static_in = torch.empty(tuple(x.shape), device=self.device, dtype=self.dtype)
            static_in.copy_(x)
            entry = self.capture(self.fn, static_in)
            self.captures += 1
            self.graphs[key] = entry
            while len(self.graphs) > self.max_graphs:
                self.graphs.popitem(last=False)
        else:
            self.graphs.move_to_end(key)
            entry.static_in.copy_(x)
        entry.replay()
        return entry.static_out.clone()

    def reset(self) -> None:
        """Drop every graph (and its memory), e.g. after the network's weights were replaced."""
        self.graphs.clear()
