"""The depth-cures study's config: the deep networks compared, each plain or with one cure."""

from __future__ import annotations

from gradtrace.studies.through_depth.runs import DepthRunConfig, Network

__all__ = ["QUICK", "DepthCuresConfig"]


class DepthCuresConfig(DepthRunConfig):
    """The networks of the depth-cures study (the defaults take about 15 CPU seconds).

    Every network is an MLP of ``depth`` hidden layers, traced at initialization, trained on the blobs
    task and traced again (see :class:`~gradtrace.studies.through_depth.runs.DepthRunConfig`).

    Raises:
        ValueError: for an unknown activation, initialization or cure, a repeated network, or a size out
            of range.
        TypeError: for a value of the wrong type.
    """

    # (activation, init, cure). The plain sigmoid with torch's default init is the network that cannot train.
    # Initialization: tanh and ReLU with the standard init and with the init scaled to them (Xavier, He), and
    # the sigmoid with Xavier's, which its σ′ ≤ 1/4 defeats. Batch norm and residual connections on the
    # plain sigmoid network itself. A ReLU network with He init and residual connections, its branches
    # added unscaled and scaled by 1/√M.
    networks: tuple[tuple[str, str, str], ...] = (
        ("sigmoid", "standard", "plain"),
        ("sigmoid", "xavier", "plain"),
        ("tanh", "standard", "plain"),
        ("tanh", "xavier", "plain"),
        ("relu", "standard", "plain"),
        ("relu", "he", "plain"),
        ("sigmoid", "standard", "batch_norm"),
        ("sigmoid", "standard", "residual"),
        ("relu", "he", "residual"),
        ("relu", "he", "scaled_residual"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.networks:
            raise ValueError("`networks` must name at least one (activation, init, cure) triple, got ().")
        if len(set(self.networks)) != len(self.networks):
            raise ValueError(f"`networks` must not repeat a network, got {self.networks!r}.")
        for activation, init, cure in self.networks:
            Network(activation, init, cure)

    def network_list(self) -> list[Network]:
        """Return the config's networks, in order."""
        return [Network(*triple) for triple in self.networks]


#: A seconds-long smoke test: shallow, narrow, a few steps.
QUICK = DepthCuresConfig(depth=6, width=8, steps=10, batch_size=16, probe_batch_size=32, eval_batch_size=32)
