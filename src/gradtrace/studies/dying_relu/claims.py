"""The dying-ReLU study's claims: a large step kills ReLUs, the others' switched-off units come back, negative biases.

"Dead" is φ′ ≈ 0 on every probe point, "inactive" (switched off) a pre-activation ≤ 0 on every probe point.
For ReLU the two are the same; a Leaky ReLU or PReLU unit is never dead, whatever happens to it, so no claim
rests on that: the claims compare what the data can refute, how many units switch off, how many of those come
back, and whether the network learns.
"""

from __future__ import annotations

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.dying_relu.config import OPTIMIZERS, Condition, DyingReluConfig, Key, run_name

__all__ = ["build_claims"]

_RELU = "relu"
#: The activations that keep a gradient on the negative side, in the order their sentences name them.
VARIANTS = ("leaky_relu", "prelu", "gelu")
# "Most" units: at least half. "Far more often": at least twice as often.
_MOST, _FACTOR = 0.5, 2.0
# A network "learns" in at least 4 of 5 seeds.
_LEARNS = 0.8


def build_claims(config: DyingReluConfig) -> list[Claim]:
    """Return the claims that ``config``'s runs can decide (those whose activations and conditions it runs).

    Args:
        config: the study's config.
    """
    claims = []
    has = set(config.conditions)
    variants = [name for name in VARIANTS if name in config.activations]
    if _RELU in config.activations and {Condition.NORMAL, Condition.LARGE_LR} <= has:
        claims.append(_large_lr_claim(config))
    if _RELU in config.activations and variants and Condition.LARGE_LR in has:
        claims.append(_come_back_claim(config, variants))
    if _RELU in config.activations and variants and Condition.NEGATIVE_BIAS in has:
        claims.append(_negative_bias_claim(config, variants))
    return claims


def _words(variants: list[str], lang: str, template: str) -> str:
    """Join ``template`` filled with each variant's name and key, e.g. "{leaky_relu:.0%} (Leaky ReLU)"."""
    names = {"leaky_relu": "Leaky ReLU", "prelu": "PReLU", "gelu": "GELU"}
    parts = [template.format(name=names[v], key=v) for v in variants]
    joiner = " and " if lang == "en" else " e "
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + joiner + parts[-1]


def _large_lr_claim(config: DyingReluConfig) -> Claim:
    large, normal = run_name(_RELU, Condition.LARGE_LR), run_name(_RELU, Condition.NORMAL)

    def evaluate(results: Results):
        s, n = results.summary(large), results.summary(normal)
        held = s[Key.DEAD_END] >= _MOST and s[Key.DEAD_END] >= _FACTOR * n[Key.DEAD_END]
        return held, {"large": config.large_lr, "lr": config.lr, "dead": s[Key.DEAD_END], "low": s[Key.DEAD_END_MIN],
                      "high": s[Key.DEAD_END_MAX], "normal": n[Key.DEAD_END], "init": s[Key.DEAD_INIT],
                      "seeds": s[Key.SEEDS], "optimizer": OPTIMIZERS[config.optimizer]}

    return Claim(
        "large-lr-kills-relus",
        {"en": "A large learning rate kills most ReLU units (the dying ReLU), at least twice as many as a moderate "
               "one.",
         "pt": "Uma taxa de aprendizado grande mata a maioria das unidades ReLU, pelo menos o dobro do que mata "
               "uma moderada (a ReLU agonizante)."},
        {"en": "With {optimizer} at learning rate {large:g}, {dead:.0%} of the ReLU units end dead (median of {seeds} "
               "seeds, {low:.0%} to {high:.0%}; {init:.0%} at the start), against {normal:.0%} at {lr:g}.",
         "pt": "Com {optimizer} e taxa {large:g}, {dead:.0%} das unidades ReLU terminam mortas (mediana de {seeds} "
               "sementes, de {low:.0%} a {high:.0%}; {init:.0%} no início), contra {normal:.0%} com {lr:g}."},
        evaluate, requires=(large, normal))


def _come_back_claim(config: DyingReluConfig, variants: list[str]) -> Claim:
    names = {activation: run_name(activation, Condition.LARGE_LR) for activation in (_RELU, *variants)}

    def evaluate(results: Results):
        fractions = {a: results.summary(name)[Key.REVIVED_FRACTION] for a, name in names.items()}
        relu = fractions[_RELU]
        held = all(fractions[v] >= _FACTOR * relu for v in variants)
        values = {"large": config.large_lr, "relu": relu, "relu_dead": results.summary(names[_RELU])[Key.DEAD_END]}
        values.update({v: fractions[v] for v in variants})
        if "gelu" in variants:
            values["gelu_dead"] = results.summary(names["gelu"])[Key.DEAD_END]
        return held, values

    gelu = {"en": "; GELU, whose derivative does vanish far out on the negative side, ends with {gelu_dead:.0%} of "
                  "its units dead",
            "pt": "; a GELU, cuja derivada se anula longe no lado negativo, termina com {gelu_dead:.0%} das "
                  "unidades mortas"} if "gelu" in variants else {"en": "", "pt": ""}
    return Claim(
        "switched-off-units-come-back",
        {"en": "Under the same large learning rate, units switched off come back at least twice as often with an "
               "activation that keeps a gradient on the negative side as with ReLU, whose switched-off units are "
               "dead.",
         "pt": "Com a mesma taxa de aprendizado grande, as unidades desligadas voltam pelo menos duas vezes mais "
               "com uma ativação que mantém o gradiente no lado negativo do que com a ReLU, cujas unidades "
               "desligadas estão mortas."},
        {"en": "At learning rate {large:g}, of the units switched off at some measurement, {relu:.0%} are back on at "
               "the end with ReLU (which ends with {relu_dead:.0%} dead), against "
               + _words(variants, "en", "{{{key}:.0%}} with {name}") + gelu["en"] + ".",
         "pt": "Com taxa {large:g}, das unidades desligadas em alguma medição, {relu:.0%} estão ligadas de novo no "
               "fim com a ReLU (que termina com {relu_dead:.0%} mortas), contra "
               + _words(variants, "pt", "{{{key}:.0%}} com a {name}") + gelu["pt"] + "."},
        evaluate, requires=tuple(names.values()))


def _negative_bias_claim(config: DyingReluConfig, variants: list[str]) -> Claim:
    names = {activation: run_name(activation, Condition.NEGATIVE_BIAS) for activation in (_RELU, *variants)}

    def evaluate(results: Results):
        summaries = {a: results.summary(name) for a, name in names.items()}
        relu = summaries[_RELU]
        seeds = relu[Key.SEEDS]
        held = (relu[Key.DEAD_INIT] >= _MOST and relu[Key.REVIVED] == 0 and relu[Key.SUCCESSES] == 0
                and all(summaries[v][Key.SUCCESSES] >= _LEARNS * seeds
                        and summaries[v][Key.INACTIVE_END] < summaries[v][Key.INACTIVE_INIT] for v in variants))
        values = {"bias": config.negative_bias, "seeds": seeds, "relu_init": relu[Key.DEAD_INIT],
                  "relu_ever": relu[Key.EVER_INACTIVE], "relu_revived": relu[Key.REVIVED],
                  "relu_solved": relu[Key.SUCCESSES], "relu_accuracy": relu[Key.ACCURACY]}
        for v in variants:
            values.update({f"{v}_init": summaries[v][Key.INACTIVE_INIT], f"{v}_end": summaries[v][Key.INACTIVE_END],
                           f"{v}_solved": summaries[v][Key.SUCCESSES]})
        return held, values

    return Claim(
        "negative-bias-relus-never-return",
        {"en": "Started with negative biases, most ReLU units are dead from the first step: none comes back and the "
               "network learns nothing. Leaky ReLU, PReLU and GELU units start just as switched off, come back, and "
               "their networks learn the task in at least 4 of 5 seeds.",
         "pt": "Partindo de vieses negativos, a maioria das unidades ReLU está morta desde o primeiro passo: "
               "nenhuma volta e a rede não aprende nada. As unidades Leaky ReLU, PReLU e GELU começam tão "
               "desligadas quanto, voltam, e suas redes aprendem a tarefa em pelo menos 4 de 5 sementes."},
        {"en": "With every hidden bias at {bias:g}, {relu_init:.0%} of the ReLU units start dead; {relu_revived} of "
               "the {relu_ever} ever switched off come back and {relu_solved} of {seeds} seeds learn (median accuracy "
               "{relu_accuracy:.0%}). Switched off at the start and at the end: "
               + _words(variants, "en", "{{{key}_init:.0%}} → {{{key}_end:.0%}} with {name} "
                                        "({{{key}_solved}} of {{seeds}} learn)") + ".",
         "pt": "Com todos os vieses ocultos em {bias:g}, {relu_init:.0%} das unidades ReLU começam mortas; "
               "{relu_revived} das {relu_ever} que estiveram desligadas voltam e {relu_solved} de {seeds} sementes "
               "aprendem (acurácia mediana {relu_accuracy:.0%}). Desligadas no início e no fim: "
               + _words(variants, "pt", "{{{key}_init:.0%}} → {{{key}_end:.0%}} com a {name} "
                                        "({{{key}_solved}} de {{seeds}} aprendem)") + "."},
        evaluate, requires=tuple(names.values()))
