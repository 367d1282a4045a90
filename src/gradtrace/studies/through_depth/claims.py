"""What the through-depth study asserts: σ′ ≤ 1/4 bounds a sigmoid network's gradient through depth.

Each function builds one :class:`~gradtrace.studies.claims.Claim` from the config; :func:`claims` lists
those whose networks the config runs.
"""

from __future__ import annotations

import math

import numpy as np

from gradtrace.activations import ACTIVATIONS
from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.through_depth.config import ThroughDepthConfig
from gradtrace.studies.through_depth.runs import (
    DEPTHS,
    LEARNING_SPEED,
    RATIO,
    SWEEP_RATIO,
    Network,
    optimizer_name,
    phase_key,
)

__all__ = ["FLOWING", "SIGMOID_SHARE", "SLOW", "claims"]

#: The sigmoid's largest derivative, σ′(0) = 1/4: its share of every layer Jacobian diag(σ′) W_l.
SIGMOID_SHARE = ACTIVATIONS["sigmoid"].max_derivative
#: A first layer "gets the gradient" when ‖∂L/∂h_1‖ is at least this fraction of ‖∂L/∂h_M‖: within an order of
#: magnitude of the last layer's.
FLOWING = 0.1
#: A first layer "barely learns" when its weights move at most this fraction as far (relative to where they
#: started) as the last layer's.
SLOW = 1e-3

_STANDARD_SIGMOID = Network("sigmoid", "standard").name
_XAVIER_SIGMOID = Network("sigmoid", "xavier").name
_TANH = Network("tanh", "xavier").name
_RELU = Network("relu", "he").name


def bound_claim(depths: tuple[int, ...]) -> Claim:
    """The sigmoid network with the standard init stays under 0.25^(M−1) at every depth, in every member."""

    def evaluate(results: Results):
        swept = results.array(_STANDARD_SIGMOID, SWEEP_RATIO)                 # (K, D)
        measured = results.array(_STANDARD_SIGMOID, DEPTHS).astype(float)
        bound = SIGMOID_SHARE ** (measured - 1.0)
        under = int((swept <= bound).sum())
        deepest = int(np.argmax(measured))
        return under == swept.size > 0, {
            "n": under, "N": int(swept.size), "K": int(swept.shape[0]), "D": int(swept.shape[1]),
            "depths": ", ".join(str(int(d)) for d in measured), "M": int(measured[deepest]),
            "exponent": int(measured[deepest]) - 1, "ratio": float(np.median(swept[:, deepest])),
            "bound": float(bound[deepest]), "closest": float(np.max(swept / bound))}

    return Claim(
        "sigmoid-under-its-bound",
        {"en": "σ′ ≤ 1/4 bounds the gradient through depth: with torch's default init U[±1/√n] the sigmoid network's "
               "ratio ‖∂L/∂h_1‖/‖∂L/∂h_M‖ is at most 0.25^(M−1) at every depth M, in every member.",
         "pt": "σ′ ≤ 1/4 limita o gradiente ao longo da profundidade: com a inicialização padrão do torch U[±1/√n], a "
               "razão ‖∂L/∂h_1‖/‖∂L/∂h_M‖ da rede sigmoide é no máximo 0,25^(M−1) em toda profundidade M, em todos "
               "os membros."},
        {"en": "At initialization the ratio is under 0.25^(M−1) in {n} of {N} cases ({K} members at each of the depths "
               "{depths}); at M = {M} its median is {ratio:.1e} against 0.25^{exponent} = {bound:.1e}; no member "
               "comes closer to its bound than {closest:.2f} of it.",
         "pt": "Na inicialização a razão fica abaixo de 0,25^(M−1) em {n} de {N} casos ({K} membros em cada uma das "
               "profundidades {depths}); com M = {M} sua mediana é {ratio:.1e} contra 0,25^{exponent} = {bound:.1e}; "
               "nenhum membro chega mais perto do seu limite do que {closest:.2f} dele."},
        evaluate, requires=(_STANDARD_SIGMOID,))


def contrast_claim(depth: int) -> Claim:
    """With each activation's own init, the sigmoid's median ratio is under 0.25^(M−1); tanh's and ReLU's ≥ 0.1."""
    exponent = depth - 1
    bound = SIGMOID_SHARE ** exponent
    key = phase_key("init", RATIO)

    def evaluate(results: Results):
        sigmoid = float(np.median(results.array(_XAVIER_SIGMOID, key)))
        tanh = float(np.min(results.array(_TANH, key)))
        relu = float(np.min(results.array(_RELU, key)))
        held = sigmoid <= bound and tanh >= FLOWING and relu >= FLOWING
        gap = math.log10(min(tanh, relu) / sigmoid) if sigmoid > 0 and min(tanh, relu) > 0 else float("nan")
        return held, {"M": depth, "exponent": exponent, "bound": bound, "sigmoid": sigmoid, "tanh": tanh,
                      "relu": relu, "orders": gap}

    return Claim(
        "sigmoid-first-layers-starve",
        {"en": "With each activation's own init (Xavier for sigmoid and tanh, He for ReLU), the sigmoid's first layer "
               "gets orders of magnitude less gradient than tanh's and ReLU's: its median ratio first/last layer is "
               "at most 0.25^(M−1), while tanh and ReLU keep at least a tenth in every member.",
         "pt": "Com a inicialização própria de cada ativação (Xavier para sigmoide e tanh, He para ReLU), a primeira "
               "camada da sigmoide recebe ordens de grandeza menos gradiente que as da tanh e da ReLU: sua razão "
               "mediana primeira/última camada é no máximo 0,25^(M−1), enquanto tanh e ReLU mantêm pelo menos um "
               "décimo em todos os membros."},
        {"en": "With M = {M} layers, at initialization: sigmoid median {sigmoid:.1e} (0.25^{exponent} = {bound:.1e}); "
               "smallest member of tanh {tanh:.2f}, of ReLU {relu:.2f}; {orders:.0f} orders of magnitude apart.",
         "pt": "Com M = {M} camadas, na inicialização: mediana da sigmoide {sigmoid:.1e} (0,25^{exponent} = "
               "{bound:.1e}); menor membro da tanh {tanh:.2f}, da ReLU {relu:.2f}; {orders:.0f} ordens de grandeza "
               "de distância."},
        evaluate, requires=(_XAVIER_SIGMOID, _TANH, _RELU))


def learning_speed_claim(steps: int, optimizer: str, sigmoids: tuple[str, ...]) -> Claim:
    """The sigmoid's first layer barely moves in training (≤ 1e-3 of its last's), tanh's and ReLU's ≥ 0.1."""

    def evaluate(results: Results):
        slowest = {name: float(np.max(results.array(name, LEARNING_SPEED))) for name in sigmoids}
        tanh = float(np.min(results.array(_TANH, LEARNING_SPEED)))
        relu = float(np.min(results.array(_RELU, LEARNING_SPEED)))
        sigmoid = max(slowest.values())
        held = sigmoid <= SLOW and tanh >= FLOWING and relu >= FLOWING
        return held, {"steps": steps, "optimizer": optimizer_name(optimizer), "sigmoid": sigmoid, "tanh": tanh,
                      "relu": relu}

    return Claim(
        "sigmoid-first-layers-barely-learn",
        {"en": "Where the gradient vanishes the first layers learn far more slowly than the last: in a deep sigmoid "
               "network the first layer's weights move at most a thousandth as far as the last layer's, while in "
               "tanh and ReLU networks they move at least a tenth as far, in every member.",
         "pt": "Onde o gradiente desaparece as primeiras camadas aprendem muito mais devagar que as últimas: numa rede "
               "sigmoide profunda os pesos da primeira camada se movem no máximo um milésimo do que se movem os da "
               "última, enquanto nas redes tanh e ReLU se movem pelo menos um décimo, em todos os membros."},
        {"en": "After {steps} {optimizer} steps, the first layer's relative weight change over the last's is at most "
               "{sigmoid:.1e} in the sigmoid networks, and at least {tanh:.2f} for tanh and {relu:.2f} for ReLU.",
         "pt": "Depois de {steps} passos de {optimizer}, a mudança relativa dos pesos da primeira camada sobre a da "
               "última é "
               "no máximo {sigmoid:.1e} nas redes sigmoides, e pelo menos {tanh:.2f} na tanh e {relu:.2f} na ReLU."},
        evaluate, requires=(*sigmoids, _TANH, _RELU))


def claims(config: ThroughDepthConfig) -> list[Claim]:
    """Return the claims whose networks ``config`` runs."""
    names = {network.name for network in config.network_list()}
    made = []
    if _STANDARD_SIGMOID in names and config.sweep_depths:
        made.append(bound_claim(config.sweep_depths))
    if {_XAVIER_SIGMOID, _TANH, _RELU} <= names:
        made.append(contrast_claim(config.depth))
    sigmoids = tuple(name for name in (_STANDARD_SIGMOID, _XAVIER_SIGMOID) if name in names)
    if sigmoids and {_TANH, _RELU} <= names:
        made.append(learning_speed_claim(config.steps, config.optimizer, sigmoids))
    return made
