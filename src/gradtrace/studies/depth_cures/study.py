"""The cures for a vanishing gradient through depth: initialization, batch normalization, residual connections.

A plain deep sigmoid network cannot train: σ′ ≤ 1/4 leaves its first layer at most 0.25^(M−1) of the
last layer's gradient, and the input's signal fades on the way up as the error's does on the way down.
Three cures change the layer Jacobian diag(φ′) W_l whose product is the trouble: an initialization
scaled to the activation makes the weights' share of each factor ~1 (for tanh and ReLU; for the
sigmoid σ′ still caps it), batch normalization rescales every layer to unit variance, and a residual
connection adds the identity to every Jacobian. Residual branches must be small enough not to add
up: unscaled ReLU branches make the gradient explode towards the input; multiplied by 1/√M they don't.
"""

from __future__ import annotations

from gradtrace.studies.base import Outcome, RunSpec, StepCallback, Study
from gradtrace.studies.claims import Claim
from gradtrace.studies.depth_cures.claims import claims as _claims
from gradtrace.studies.depth_cures.config import QUICK, DepthCuresConfig
from gradtrace.studies.through_depth.runs import ACCURACY, RATIO, Network, phase_key, run_network

__all__ = ["DepthCures"]


class DepthCures(Study):
    """Deep MLPs with and without the cures for a vanishing gradient, traced and trained on the blobs task.

    Each network is an ensemble of seeds: traced at initialization (‖∂L/∂h_l‖ per layer, the ratio
    first/last layer), trained, and traced again; its held-out accuracy says whether it trained.

    Example:
        >>> [spec.name for spec in DepthCures().plan(quick=False, seeds=1)][:3]
        ['sigmoid-standard-batch_norm', 'sigmoid-standard', 'sigmoid-xavier']

    References:
        Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural networks",
        AISTATS (Xavier init); He, Zhang, Ren & Sun 2015, arXiv:1502.01852 (He init), and 2016,
        arXiv:1512.03385 (residual connections); Ioffe & Szegedy 2015, arXiv:1502.03167 (batch norm);
        Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz 2019, "A mean field theory of batch
        normalization", ICLR (the gradient of a batch-normalized network grows towards the input at
        initialization); Hanin & Rolnick 2018, "How to start training: the effect of initialization and
        architecture", NeurIPS (residual branches scaled so their variances do not add up).
    """

    name = "depth-cures"
    config_class = DepthCuresConfig
    quick_config = QUICK
    title = "Curing the vanishing gradient through depth: initialization, batch norm, residual connections"
    description = ("20-layer MLPs on a three-class task: the plain sigmoid network, tanh and ReLU networks with the "
                   "standard init U[±1/√n] and with Xavier's or He's, the sigmoid network with batch norm and with "
                   "residual connections, and a ReLU network with residual branches unscaled and scaled by 1/√M: "
                   "the gradient layer by layer at initialization and the held-out accuracy after training.")
    text = {
        "title": {"en": title,
                  "pt": "Curando o gradiente que desaparece com a profundidade: inicialização, normalização em lote, "
                        "conexões residuais"},
        "question": {"en": "What lets a deep network train where a plain deep sigmoid network cannot?",
                     "pt": "O que permite treinar uma rede profunda onde uma rede sigmoide profunda simples não "
                           "treina?"},
        "description": {"en": description,
                        "pt": "MLPs de 20 camadas num problema de três classes: a rede sigmoide simples, redes tanh e "
                              "ReLU com a inicialização padrão U[±1/√n] e com a de Xavier ou de He, a rede sigmoide "
                              "com "
                              "normalização em lote e com conexões residuais, e uma rede ReLU com ramos residuais sem "
                              "escala e multiplicados por 1/√M: o gradiente camada a camada na inicialização e a "
                              "acurácia em dados separados depois do treino."},
    }
    summary_columns = (("first/last, init", phase_key("init", RATIO), ".2e"),
                       ("first/last, trained", phase_key("trained", RATIO), ".2e"),
                       ("accuracy", ACCURACY, ".2f"),
                       ("worst member", f"{ACCURACY}_min", ".2f"))

    def plan(self, *, quick: bool, seeds: int) -> list[RunSpec]:
        config = self.resolve(quick)
        # A batch-normalized run costs about twice the others: planned first, so two workers finish together.
        networks = sorted(config.network_list(), key=lambda network: network.cure != "batch_norm")
        return [RunSpec(network.name, config.steps, _executor(network, config, seeds)) for network in networks]

    def claims(self, *, quick: bool, seeds: int) -> list[Claim]:
        """The plain deep sigmoid cannot train; each cure keeps the gradient and trains; ReLU branches need 1/√M."""
        return _claims(self.resolve(quick))


def _executor(network: Network, config: DepthCuresConfig, seeds: int):
    def execute(callback: StepCallback | None) -> Outcome:
        return run_network(network, config, seeds, callback=callback)

    return execute
