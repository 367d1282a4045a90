"""What the depth-cures study asserts: initialization, batch norm and skips train what a plain sigmoid net cannot.

Each function builds one :class:`~gradtrace.studies.claims.Claim`; :func:`claims` lists those whose
networks the config runs. Every claim reads every member: "trains" is each member at or above
:data:`TRAINED` held-out accuracy, "at chance" each member at most :data:`NEAR_CHANCE` above chance.
"""

from __future__ import annotations

import numpy as np

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.depth_cures.config import DepthCuresConfig
from gradtrace.studies.through_depth.claims import FLOWING, SIGMOID_SHARE
from gradtrace.studies.through_depth.runs import ACCURACY, RATIO, Network, optimizer_name, phase_key

__all__ = ["EXPLODED", "NEAR_CHANCE", "TRAINED", "VANISHED", "claims"]

#: Held-out accuracy every member of a network that trains reaches.
TRAINED = 0.9
#: How far above chance (1/3 on the blobs task) a network that did not train stays at most.
NEAR_CHANCE = 0.1
#: A ratio first/last layer at most this is a gradient that vanished on its way down.
VANISHED = 1e-3
#: A ratio first/last layer at least this is a gradient that exploded on its way down: two orders of magnitude.
EXPLODED = 100.0

_INIT_RATIO = phase_key("init", RATIO)
_NAMES = {"tanh": "tanh", "relu": "ReLU"}
_PLAIN = Network("sigmoid", "standard").name


def _ratios(results: Results, name: str) -> np.ndarray:
    return results.array(name, _INIT_RATIO)


def _accuracy(results: Results, name: str) -> np.ndarray:
    return results.array(name, ACCURACY)


def _chance(results: Results) -> float:
    return float(results.summary(_PLAIN)["chance"])


def _plain_at_chance(results: Results) -> tuple[bool, float]:
    """Whether every member of the plain sigmoid network stays near chance, and its best member's accuracy."""
    best = float(np.max(_accuracy(results, _PLAIN)))
    return best <= _chance(results) + NEAR_CHANCE, best


def _flowing(ratios: np.ndarray) -> bool:
    return bool(((ratios >= FLOWING) & (ratios <= 1.0 / FLOWING)).all())


def plain_claim(depth: int) -> Claim:
    """The plain deep sigmoid network: its gradient under 0.25^(M−1), every member at chance."""
    bound = SIGMOID_SHARE ** (depth - 1)

    def evaluate(results: Results):
        ratios = _ratios(results, _PLAIN)
        at_chance, best = _plain_at_chance(results)
        held = bool((ratios <= bound).all()) and at_chance
        return held, {"M": depth, "exponent": depth - 1, "bound": bound, "ratio": float(np.max(ratios)),
                      "best": best, "chance": _chance(results)}

    return Claim(
        "plain-deep-sigmoid-cannot-train",
        {"en": "A plain deep sigmoid network (torch's default init U[±1/√n]) cannot train: its first layer gets at "
               "most 0.25^(M−1) of the last layer's gradient and every member stays within 10 points of chance.",
         "pt": "Uma rede sigmoide profunda simples (inicialização padrão do torch U[±1/√n]) não treina: sua primeira "
               "camada recebe no máximo 0,25^(M−1) do gradiente da última e todo membro fica a menos de 10 pontos do "
               "acaso."},
        {"en": "With M = {M} layers the largest ratio first/last layer at initialization is {ratio:.1e} "
               "(0.25^{exponent} "
               "= {bound:.1e}); the best member reaches {best:.0%} held-out accuracy (chance {chance:.0%}).",
         "pt": "Com M = {M} camadas a maior razão primeira/última camada na inicialização é {ratio:.1e} "
               "(0,25^{exponent} "
               "= {bound:.1e}); o melhor membro chega a {best:.0%} de acurácia em dados separados (acaso "
               "{chance:.0%})."},
        evaluate, requires=(_PLAIN,))


def init_claim(activations: tuple[str, ...]) -> Claim:
    """Xavier (tanh) or He (ReLU) init keeps the gradient and trains; the standard init makes it vanish."""
    own = {"tanh": "xavier", "relu": "he"}
    scaled = {a: Network(a, own[a]).name for a in activations}
    standard = {a: Network(a, "standard").name for a in activations}

    def evaluate(results: Results):
        values: dict[str, float] = {}
        held, at_chance = True, _plain_at_chance(results)
        for a in activations:
            ratios, accuracy = _ratios(results, scaled[a]), _accuracy(results, scaled[a])
            vanished = _ratios(results, standard[a])
            held &= _flowing(ratios) and bool((accuracy >= TRAINED).all()) and bool((vanished <= VANISHED).all())
            values.update({f"{a}_low": float(ratios.min()), f"{a}_high": float(ratios.max()),
                           f"{a}_accuracy": float(accuracy.min()), f"{a}_standard": float(vanished.max()),
                           f"{a}_standard_accuracy": float(np.median(_accuracy(results, standard[a])))})
        held &= at_chance[0]
        return held, {**values, "plain": at_chance[1]}

    def listed(lang: str) -> str:
        words = {"en": ("{name}: ratio {{{a}_low:.2f}}–{{{a}_high:.2f}} and worst member at {{{a}_accuracy:.0%}} with "
                        "its own init; at most {{{a}_standard:.0e}} with U[±1/√n] (median accuracy "
                        "{{{a}_standard_accuracy:.0%}})"),
                 "pt": ("{name}: razão {{{a}_low:.2f}}–{{{a}_high:.2f}} e pior membro com {{{a}_accuracy:.0%}} com "
                        "sua própria inicialização; no máximo {{{a}_standard:.0e}} com U[±1/√n] (acurácia mediana "
                        "{{{a}_standard_accuracy:.0%}})")}[lang]
        return "; ".join(words.format(a=a, name=_NAMES[a]) for a in activations)

    return Claim(
        "initialization-keeps-the-gradient",
        {"en": "An initialization scaled to the activation (Xavier for tanh, He for ReLU) keeps the gradient flowing "
               "through a deep network — ratio first/last layer between 0.1 and 10 in every member, where the standard "
               "U[±1/√n] leaves at most 10⁻³ — and trains it (every member at 90 % or more) where the plain sigmoid "
               "network stays at chance.",
         "pt": "Uma inicialização ajustada à ativação (Xavier para tanh, He para ReLU) mantém o gradiente fluindo por "
               "uma rede profunda — razão primeira/última camada entre 0,1 e 10 em todos os membros, onde a padrão "
               "U[±1/√n] deixa no máximo 10⁻³ — e a treina (todo membro com 90 % ou mais) onde a rede sigmoide simples "
               "fica no acaso."},
        {"en": "At initialization, " + listed("en") + "; the plain sigmoid network's best member: {plain:.0%}.",
         "pt": "Na inicialização, " + listed("pt") + "; o melhor membro da rede sigmoide simples: {plain:.0%}."},
        evaluate, requires=(*scaled.values(), *standard.values(), _PLAIN))


def sigmoid_init_claim(depth: int) -> Claim:
    """Xavier's init does not rescue the sigmoid: its median ratio stays under 0.25^(M−1), every member at chance."""
    name = Network("sigmoid", "xavier").name
    bound = SIGMOID_SHARE ** (depth - 1)

    def evaluate(results: Results):
        ratio = float(np.median(_ratios(results, name)))
        best = float(np.max(_accuracy(results, name)))
        chance = _chance(results)
        return ratio <= bound and best <= chance + NEAR_CHANCE, {
            "M": depth, "exponent": depth - 1, "bound": bound, "ratio": ratio, "best": best, "chance": chance}

    return Claim(
        "no-initialization-rescues-the-sigmoid",
        {"en": "No initialization rescues a deep sigmoid network: with Xavier's init its median ratio first/last layer "
               "stays under 0.25^(M−1), σ′'s share, and every member stays within 10 points of chance.",
         "pt": "Nenhuma inicialização resgata uma rede sigmoide profunda: com a de Xavier sua razão mediana "
               "primeira/última camada fica abaixo de 0,25^(M−1), a parte de σ′, e todo membro fica a menos de 10 "
               "pontos "
               "do acaso."},
        {"en": "With Xavier's init and M = {M}: median ratio {ratio:.1e} (0.25^{exponent} = {bound:.1e}); best member "
               "{best:.0%} (chance {chance:.0%}).",
         "pt": "Com a inicialização de Xavier e M = {M}: razão mediana {ratio:.1e} (0,25^{exponent} = {bound:.1e}); "
               "melhor membro {best:.0%} (acaso {chance:.0%})."},
        evaluate, requires=(name, _PLAIN))


def batch_norm_claim() -> Claim:
    """Batch norm on the plain sigmoid network: the gradient grows towards the input instead of vanishing; it trains."""
    name = Network("sigmoid", "standard", "batch_norm").name

    def evaluate(results: Results):
        ratios, accuracy = _ratios(results, name), _accuracy(results, name)
        at_chance, plain = _plain_at_chance(results)
        held = bool((ratios >= 1.0).all()) and bool((accuracy >= TRAINED).all()) and at_chance
        return held, {"low": float(ratios.min()), "high": float(ratios.max()), "accuracy": float(accuracy.min()),
                      "plain": plain}

    return Claim(
        "batch-norm-trains-deep-sigmoid",
        {"en": "Batch normalization keeps the gradient of the same deep sigmoid network from vanishing — at "
               "initialization it even grows towards the input (ratio first/last layer above 1 in every member) — "
               "and trains it: every member at 90 % or more, where the plain network stays at chance.",
         "pt": "A normalização em lote impede que o gradiente da mesma rede sigmoide profunda desapareça — na "
               "inicialização ele até cresce em direção à entrada (razão primeira/última camada acima de 1 em todos os "
               "membros) — e a treina: todo membro com 90 % ou mais, onde a rede simples fica no acaso."},
        {"en": "With batch norm the ratio at initialization is {low:.0f}–{high:.0f}; its worst member reaches "
               "{accuracy:.0%}; without, the best member reaches {plain:.0%}.",
         "pt": "Com normalização em lote a razão na inicialização fica entre {low:.0f} e {high:.0f}; seu pior membro "
               "chega "
               "a {accuracy:.0%}; sem ela, o melhor membro chega a {plain:.0%}."},
        evaluate, requires=(name, _PLAIN))


def residual_claim() -> Claim:
    """Residual connections on the plain sigmoid network: ratio within 0.1–10, and it trains."""
    name = Network("sigmoid", "standard", "residual").name

    def evaluate(results: Results):
        ratios, accuracy = _ratios(results, name), _accuracy(results, name)
        at_chance, plain = _plain_at_chance(results)
        held = _flowing(ratios) and bool((accuracy >= TRAINED).all()) and at_chance
        return held, {"low": float(ratios.min()), "high": float(ratios.max()), "accuracy": float(accuracy.min()),
                      "plain": plain}

    return Claim(
        "residual-trains-deep-sigmoid",
        {"en": "Residual connections h_l = h_(l−1) + σ(z_l) add the identity to every layer Jacobian: the same deep "
               "sigmoid network keeps its gradient (ratio first/last layer between 0.1 and 10 in every member) and "
               "trains (every member at 90 % or more), where the plain network stays at chance. Its branches need no "
               "scaling: σ′ ≤ 1/4 keeps each one small.",
         "pt": "Conexões residuais h_l = h_(l−1) + σ(z_l) somam a identidade a cada jacobiana de camada: a mesma rede "
               "sigmoide profunda mantém seu gradiente (razão primeira/última camada entre 0,1 e 10 em todos os "
               "membros) e treina (todo membro com 90 % ou mais), onde a rede simples fica no acaso. Seus ramos não "
               "precisam de escala: σ′ ≤ 1/4 mantém cada um pequeno."},
        {"en": "With residual connections the ratio at initialization is {low:.2f}–{high:.2f}; its worst member "
               "reaches "
               "{accuracy:.0%}; without, the best member reaches {plain:.0%}.",
         "pt": "Com conexões residuais a razão na inicialização fica entre {low:.2f} e {high:.2f}; seu pior membro "
               "chega "
               "a {accuracy:.0%}; sem elas, o melhor membro chega a {plain:.0%}."},
        evaluate, requires=(name, _PLAIN))


def scaled_residual_claim(depth: int, optimizer: str) -> Claim:
    """Unscaled ReLU branches add up and the gradient explodes; branches × 1/√M keep it within 0.1–10 and train."""
    unscaled = Network("relu", "he", "residual").name
    scaled = Network("relu", "he", "scaled_residual").name

    def evaluate(results: Results):
        exploded = _ratios(results, unscaled)
        kept, accuracy = _ratios(results, scaled), _accuracy(results, scaled)
        held = bool((exploded >= EXPLODED).all()) and _flowing(kept) and bool((accuracy >= TRAINED).all())
        return held, {"M": depth, "scale": depth ** -0.5, "exploded": float(exploded.min()),
                      "exploded_high": float(exploded.max()), "low": float(kept.min()), "high": float(kept.max()),
                      "accuracy": float(accuracy.min()),
                      "unscaled_accuracy": float(np.median(_accuracy(results, unscaled))),
                      "optimizer": optimizer_name(optimizer)}

    return Claim(
        "residual-branches-scaled",
        {"en": "Residual branches of a deep ReLU network need scaling for the gradient to flow evenly: added as they "
               "are, each adds its own variance, and the gradient explodes towards the input (ratio first/last layer "
               "of 100 or more in every member); "
               "multiplied by 1/√M they keep the ratio between 0.1 and 10 and the network trains (every member at "
               "90 % or more).",
         "pt": "Os ramos residuais de uma rede ReLU profunda precisam de escala para o gradiente fluir por igual: "
               "somados como estão, cada um acrescenta sua variância e o gradiente explode em direção à entrada "
               "(razão primeira/última camada de 100 ou mais "
               "em todos os membros); multiplicados por 1/√M mantêm a razão entre 0,1 e 10 e a rede treina (todo "
               "membro com 90 % ou mais)."},
        {"en": "With M = {M} and He init: unscaled branches give ratios of {exploded:.1e}–{exploded_high:.1e} at "
               "initialization (median accuracy {unscaled_accuracy:.0%} with {optimizer}); branches × {scale:.3f} give "
               "{low:.2f}–{high:.2f}, and the worst member reaches {accuracy:.0%}.",
         "pt": "Com M = {M} e inicialização de He: ramos sem escala dão razões de {exploded:.1e} a {exploded_high:.1e} "
               "na inicialização (acurácia mediana {unscaled_accuracy:.0%} com {optimizer}); ramos × {scale:.3f} dão "
               "de "
               "{low:.2f} a {high:.2f}, e o pior membro chega a {accuracy:.0%}."},
        evaluate, requires=(unscaled, scaled))


def claims(config: DepthCuresConfig) -> list[Claim]:
    """Return the claims whose networks ``config`` runs."""
    names = {network.name for network in config.network_list()}
    made = []
    if _PLAIN not in names:
        return made
    made.append(plain_claim(config.depth))
    activations = tuple(a for a, own in (("tanh", "xavier"), ("relu", "he"))
                        if {Network(a, own).name, Network(a, "standard").name} <= names)
    if activations:
        made.append(init_claim(activations))
    if Network("sigmoid", "xavier").name in names:
        made.append(sigmoid_init_claim(config.depth))
    if Network("sigmoid", "standard", "batch_norm").name in names:
        made.append(batch_norm_claim())
    if Network("sigmoid", "standard", "residual").name in names:
        made.append(residual_claim())
    if {Network("relu", "he", "residual").name, Network("relu", "he", "scaled_residual").name} <= names:
        made.append(scaled_residual_claim(config.depth, config.optimizer))
    return made
