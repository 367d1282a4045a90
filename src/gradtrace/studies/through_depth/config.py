"""The through-depth study's config: the networks compared, the depths swept, and the training they share."""

from __future__ import annotations

from gradtrace.studies.through_depth.runs import DepthRunConfig, Network

__all__ = ["QUICK", "ThroughDepthConfig"]


class ThroughDepthConfig(DepthRunConfig):
    """The networks of the through-depth study (the defaults take about 6 CPU seconds).

    Every network is an MLP of ``depth`` hidden layers, traced at initialization at each of
    ``sweep_depths`` and at ``depth``, then trained on the blobs task (see
    :class:`~gradtrace.studies.through_depth.runs.DepthRunConfig`).

    Raises:
        ValueError: for an unknown activation or initialization, a repeated network or depth, or a size
            out of range.
        TypeError: for a value of the wrong type.
    """

    # (activation, init): the sigmoid with torch's default init U[±1/√n], whose weights pass back less than
    # they receive, so σ′ ≤ 1/4 bounds the whole factor of every layer; then each activation with the init
    # scaled to it (Xavier for sigmoid and tanh, He for ReLU), so what differs between them is φ′ alone.
    networks: tuple[tuple[str, str], ...] = (("sigmoid", "standard"), ("sigmoid", "xavier"), ("tanh", "xavier"),
                                             ("relu", "he"))
    # At initialization only (no training, so deep networks cost little); at 50 layers the sigmoid's
    # ratio is ~1e-40, which float64 still resolves.
    sweep_depths: tuple[int, ...] = (2, 3, 5, 10, 20, 30, 50)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.networks:
            raise ValueError("`networks` must name at least one (activation, init) pair, got ().")
        if len(set(self.networks)) != len(self.networks):
            raise ValueError(f"`networks` must not repeat a network, got {self.networks!r}.")
        for activation, init in self.networks:
            Network(activation, init)
        if len(set(self.sweep_depths)) != len(self.sweep_depths):
            raise ValueError(f"`sweep_depths` must not repeat a depth, got {self.sweep_depths!r}.")
        for depth in self.sweep_depths:
            if depth < 2:
                raise ValueError(f"Every depth of `sweep_depths` must be at least 2 (a first and a last hidden "
                                 f"layer), got {depth}.")

    def network_list(self) -> list[Network]:
        """Return the config's networks, in order."""
        return [Network(activation, init) for activation, init in self.networks]


#: A seconds-long smoke test: shallow, narrow, a few steps.
QUICK = ThroughDepthConfig(depth=6, width=8, sweep_depths=(2, 4, 6), steps=10, batch_size=16, probe_batch_size=32,
                           eval_batch_size=32)
