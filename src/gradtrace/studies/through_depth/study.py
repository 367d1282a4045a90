"""The gradient through depth: σ′ ≤ 1/4 makes a sigmoid network's gradient shrink like 0.25^(M−1).

An MLP of M hidden layers back-propagates the error through one Jacobian diag(φ′(z_l)) W_l per layer,
so what reaches the first layer is the product of M − 1 of them. The sigmoid's derivative is at most
1/4, so its share of the product is at most 0.25^(M−1); tanh's and ReLU's derivatives reach 1, and
with weights scaled to pass the signal on (Xavier's init, He's) their product stays near 1. The study
sets the measured ratio ‖∂L/∂h_1‖/‖∂L/∂h_M‖ beside 0.25^(M−1) for depths up to 50, and shows how
much slower the first layer of a deep sigmoid network learns than its last.
"""

from __future__ import annotations

from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.through_depth.claims import claims as _claims
from gradtrace.studies.through_depth.config import QUICK, ThroughDepthConfig
from gradtrace.studies.through_depth.runs import ACCURACY, LEARNING_SPEED, RATIO, Network, phase_key, run_network

__all__ = ["ThroughDepth"]


class ThroughDepth(Study):
    """Deep MLPs of the sigmoid, tanh and ReLU, traced through depth at initialization and after training.

    Each network is an ensemble of seeds. One run per network: it is traced at initialization at every
    depth of the sweep, then at the config's depth it is traced, trained on the blobs task and traced
    again; how far each layer's weights moved, relative to where they started, says how fast it learned.

    Example:
        >>> [spec.name for spec in ThroughDepth().plan(quick=False, seeds=1)]
        ['sigmoid-standard', 'sigmoid-xavier', 'tanh-xavier', 'relu-he']

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks",
        AISTATS; He, Zhang, Ren & Sun 2015, arXiv:1502.01852 (He init).
    """

    name = "through-depth"
    config_class = ThroughDepthConfig
    quick_config = QUICK
    title = "The gradient through depth: sigmoid, tanh and ReLU"
    description = ("‖∂L/∂h_l‖ layer by layer in deep MLPs of the sigmoid (torch's default init and Xavier's), tanh "
                   "(Xavier) and ReLU (He): the ratio first/last layer against depth M beside the sigmoid's "
                   "0.25^(M−1), and how fast the first layer learns compared with the last.")
    text = {
        "title": {"en": title, "pt": "O gradiente através da profundidade: sigmoide, tanh e ReLU"},
        "question": {"en": "How much of the gradient at the last layer of a deep network reaches the first, and why "
                           "does the sigmoid let through so much less?",
                     "pt": "Quanto do gradiente da última camada de uma rede profunda chega à primeira, e por que a "
                           "sigmoide deixa passar tão menos?"},
        "description": {"en": description,
                        "pt": "‖∂L/∂h_l‖ camada a camada em MLPs profundas com sigmoide (inicialização padrão do "
                              "torch e de Xavier), tanh (Xavier) e ReLU (He): a razão primeira/última camada em função "
                              "da profundidade M ao lado do 0,25^(M−1) da sigmoide, e quão rápido a primeira camada "
                              "aprende comparada à última."},
    }
    summary_columns = (("first/last, init", phase_key("init", RATIO), ".2e"),
                       ("first/last, trained", phase_key("trained", RATIO), ".2e"),
                       ("learning speed first/last", LEARNING_SPEED, ".2e"),
                       ("accuracy", ACCURACY, ".2f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        return [RunSpec(network.name, config.steps, _executor(network, config, seeds))
                for network in config.network_list()]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """σ′ ≤ 1/4 bounds the sigmoid's gradient; tanh and ReLU keep theirs; its first layers barely learn."""
        return _claims(self.resolve(quick))


def _executor(network: Network, config: ThroughDepthConfig, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        return run_network(network, config, seeds, sweep_depths=config.sweep_depths, callback=callback)

    return execute
