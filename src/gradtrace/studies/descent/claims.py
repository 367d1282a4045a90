"""What the descent study asserts: per epoch, more updates go further; per update, the exact gradient does.

Every variant computes the same example-gradients per epoch. Spent as one exact step (full batch) they
buy the best single update and a smooth, monotone curve; spent as N one-example steps (stochastic) they
buy N noisy updates that, per epoch, go much further. The claims read the run summaries that
:func:`~gradtrace.studies.descent.study.summarize` writes.
"""

from __future__ import annotations

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.descent.config import DescentConfig, Key

__all__ = ["EPOCH_GAIN", "MINI_BATCH_UPDATE_LOSS", "STOCHASTIC_RISES", "STOCHASTIC_UPDATE_LOSS", "descent_claims"]

#: Per epoch, stochastic descent ends at least this many times below the full batch (an order of magnitude).
EPOCH_GAIN = 10.0
#: At least this fraction of stochastic updates go uphill on the whole training set.
STOCHASTIC_RISES = 0.4
#: After the same updates, stochastic descent's loss is at least this many times the full batch's…
STOCHASTIC_UPDATE_LOSS = 1.5
#: … and the mini-batch's at most this many times.
MINI_BATCH_UPDATE_LOSS = 1.25


def descent_claims(config: DescentConfig) -> list[Claim]:
    """Return the study's claims; each needs all three variants, so a config without them claims nothing.

    Args:
        config: the config the study ran with.
    """
    if set(config.variants) != {"batch", "mini_batch", "stochastic"}:
        return []
    return [_per_epoch(), _every_update_descends(), _per_update()]


def _per_epoch() -> Claim:
    def evaluate(results: Results):
        batch, mini, sgd = (results.summary(name) for name in ("batch", "mini_batch", "stochastic"))
        loss_batch, loss_mini, loss_sgd = batch[Key.FINAL_LOSS], mini[Key.FINAL_LOSS], sgd[Key.FINAL_LOSS]
        ratio = loss_batch / loss_sgd
        held = loss_sgd < loss_mini < loss_batch and ratio >= EPOCH_GAIN
        return held, {"epochs": batch["epochs"], "batch": loss_batch, "mini": loss_mini, "sgd": loss_sgd,
                      "ratio": ratio, "n_batch": batch[Key.UPDATES], "n_mini": mini[Key.UPDATES],
                      "n_sgd": sgd[Key.UPDATES], "B": mini[Key.BATCH_SIZE]}

    return Claim(
        "more-updates-per-epoch-go-further",
        {"en": f"Per epoch, that is for the same example-gradients computed, more and noisier updates go further: "
               f"stochastic descent ends at least {EPOCH_GAIN:g}× below the full batch, mini-batch descent in "
               "between.",
         "pt": f"Por época, isto é, com os mesmos gradientes de exemplos calculados, atualizações mais numerosas e "
               f"mais ruidosas vão mais longe: a descida estocástica termina pelo menos {EPOCH_GAIN:g}× abaixo do "
               "lote completo, e a em minilote fica entre as duas."},
        {"en": "After {epochs} epochs the training loss is {sgd:.1e} for stochastic descent ({n_sgd} updates), "
               "{mini:.1e} for mini-batches of {B} ({n_mini} updates) and {batch:.1e} for the full batch "
               "({n_batch} updates): stochastic descent ends {ratio:.0f}× below the full batch.",
         "pt": "Depois de {epochs} épocas a perda de treino é {sgd:.1e} na descida estocástica ({n_sgd} atualizações), "
               "{mini:.1e} em minilotes de {B} ({n_mini} atualizações) e {batch:.1e} no lote completo ({n_batch} "
               "atualizações): a estocástica termina {ratio:.0f}× abaixo do lote completo."},
        evaluate, requires=("batch", "mini_batch", "stochastic"))


def _every_update_descends() -> Claim:
    def evaluate(results: Results):
        batch, mini, sgd = (results.summary(name) for name in ("batch", "mini_batch", "stochastic"))
        held = (batch[Key.RISES] == 0 and batch["update_pairs"] > 0
                and sgd[Key.RISE_FRACTION] >= STOCHASTIC_RISES)
        return held, {"rises_batch": batch[Key.RISES], "n_batch": batch["update_pairs"],
                      "mini": 100 * mini[Key.RISE_FRACTION], "sgd": 100 * sgd[Key.RISE_FRACTION],
                      "epochs_sgd": sgd[Key.EPOCH_RISES], "epoch_pairs": sgd[Key.SEEDS] * sgd["epochs"]}

    return Claim(
        "full-batch-descends-at-every-update",
        {"en": f"Full-batch descent lowers the training loss at every update, a smooth monotone curve; the noise of "
               f"one-example gradients makes at least {STOCHASTIC_RISES:.0%} of stochastic updates raise it.",
         "pt": f"A descida em lote completo baixa a perda de treino a cada atualização, uma curva suave e monótona; o "
               f"ruído dos gradientes de um só exemplo faz pelo menos {100 * STOCHASTIC_RISES:.0f}% das "
               "atualizações estocásticas aumentá-la."},
        {"en": "On the whole training set the loss rose after {rises_batch} of {n_batch} full-batch updates (all seeds "
               "together), after {mini:.0f}% of mini-batch updates and after {sgd:.0f}% of stochastic updates; "
               "measured per epoch, stochastic descent's loss still rose in {epochs_sgd} of {epoch_pairs} epochs.",
         "pt": "Em todo o conjunto de treino a perda subiu depois de {rises_batch} de {n_batch} atualizações em lote "
               "completo (todas as sementes juntas), depois de {mini:.0f}% das atualizações em minilote e de "
               "{sgd:.0f}% das estocásticas; medida por época, a perda da descida estocástica ainda subiu em "
               "{epochs_sgd} de {epoch_pairs} épocas."},
        evaluate, requires=("batch", "mini_batch", "stochastic"))


def _per_update() -> Claim:
    def evaluate(results: Results):
        batch, mini, sgd = (results.summary(name) for name in ("batch", "mini_batch", "stochastic"))
        loss_batch = batch[Key.EQUAL_UPDATES_LOSS]
        sgd_ratio = sgd[Key.EQUAL_UPDATES_LOSS] / loss_batch
        mini_ratio = mini[Key.EQUAL_UPDATES_LOSS] / loss_batch
        held = sgd_ratio >= STOCHASTIC_UPDATE_LOSS and mini_ratio <= MINI_BATCH_UPDATE_LOSS
        return held, {"updates": batch[Key.EQUAL_UPDATES], "batch": loss_batch, "mini": mini[Key.EQUAL_UPDATES_LOSS],
                      "sgd": sgd[Key.EQUAL_UPDATES_LOSS], "sgd_ratio": sgd_ratio, "mini_ratio": mini_ratio,
                      "B": mini[Key.BATCH_SIZE], "N": batch[Key.BATCH_SIZE]}

    return Claim(
        "full-batch-update-goes-furthest",
        {"en": f"Per update, the exact gradient goes furthest: after the same number of updates stochastic descent's "
               f"loss is at least {STOCHASTIC_UPDATE_LOSS:g}× the full batch's, while a mini-batch, with a fraction "
               f"of the example-gradients per update, comes within {MINI_BATCH_UPDATE_LOSS - 1:.0%} of it.",
         "pt": f"Por atualização, o gradiente exato vai mais longe: depois do mesmo número de atualizações, a perda da "
               f"descida estocástica é pelo menos {STOCHASTIC_UPDATE_LOSS:g}× a do lote completo, enquanto um "
               f"minilote, com uma fração dos gradientes de exemplos por atualização, fica a menos de "
               f"{100 * (MINI_BATCH_UPDATE_LOSS - 1):.0f}% dela."},
        {"en": "After {updates} updates the training loss is {batch:.2e} for the full batch ({N} examples per update), "
               "{mini:.2e} for mini-batches of {B} (×{mini_ratio:.2f}) and {sgd:.2e} for single examples "
               "(×{sgd_ratio:.2f}).",
         "pt": "Depois de {updates} atualizações a perda de treino é {batch:.2e} no lote completo ({N} exemplos por "
               "atualização), {mini:.2e} em minilotes de {B} (×{mini_ratio:.2f}) e {sgd:.2e} com um exemplo só "
               "(×{sgd_ratio:.2f})."},
        evaluate, requires=("batch", "mini_batch", "stochastic"))
