"""What the forecast study asserts: a chaotic series is forecast far better than by persistence, a price is not.

Both claims compare held-out RMSE with the persistence forecast's (repeat the last value) on the same
test targets, for every seed of every model: a claim about "the models" holds only if it holds for each.
"""

from __future__ import annotations

from gradtrace.studies.claims import Claim, Results
from gradtrace.studies.forecast.config import ForecastConfig, Key, run_name

__all__ = ["CHAOS_FACTOR", "MODEL_NAMES", "PRICE_BAND", "forecast_claims"]

#: On Mackey-Glass, every forecaster's RMSE is at least this many times below persistence's.
CHAOS_FACTOR = 5.0
#: On the price, every forecaster's RMSE lies within this fraction of persistence's, either way.
PRICE_BAND = 0.10

#: The models' names in each language, for sentences and figures.
MODEL_NAMES = {
    "mlp": {"en": "MLP", "pt": "MLP"},
    "elman": {"en": "Elman RNN", "pt": "RNN de Elman"},
    "lstm": {"en": "LSTM", "pt": "LSTM"},
    "esn": {"en": "echo state network", "pt": "rede de estado de eco"},
}


def forecast_claims(config: ForecastConfig) -> list[Claim]:
    """Return the study's claims for the series and models ``config`` runs.

    Args:
        config: the config the study ran with.
    """
    claims = []
    if "mackey_glass" in config.series:
        claims.append(_beats_persistence_on_chaos(config.models))
    if "price" in config.series:
        claims.append(_close_to_persistence_on_price(config.models))
    return claims


def _factors(models: tuple[str, ...], lang: str) -> str:
    """``"{factor_mlp:.0f}× lower for the MLP, …"``: one placeholder per model, joined in ``lang``."""
    word = {"en": "× lower for the ", "pt": "× menor na "}[lang]
    parts = [f"{{factor_{model}:.0f}}{word}{MODEL_NAMES[model][lang]}" for model in models]
    joiner = " and " if lang == "en" else " e "
    return ", ".join(parts[:-1]) + joiner + parts[-1] if len(parts) > 1 else parts[0]


def _beats_persistence_on_chaos(models: tuple[str, ...]) -> Claim:
    names = tuple(run_name("mackey_glass", model) for model in models)

    def evaluate(results: Results):
        summaries = {model: results.summary(name) for model, name in zip(models, names)}
        worst = max(s[Key.RATIO_MAX] for s in summaries.values())
        values = {f"factor_{model}": 1 / s[Key.RATIO] for model, s in summaries.items()}
        values.update(worst=1 / worst, persistence=summaries[models[0]][Key.PERSISTENCE_RMSE],
                      seeds=summaries[models[0]][Key.SEEDS])
        return worst <= 1 / CHAOS_FACTOR, values

    return Claim(
        "forecasters-beat-persistence-on-chaos",
        {"en": f"On the chaotic Mackey-Glass series every forecaster, at every seed, cuts persistence's held-out RMSE "
               f"at least {CHAOS_FACTOR:g}-fold.",
         "pt": f"Na série caótica de Mackey-Glass, todo previsor, em toda semente, divide o RMSE de teste da "
               f"persistência por pelo menos {CHAOS_FACTOR:g}."},
        {"en": "On Mackey-Glass persistence's held-out RMSE is {persistence:.3f}; the median seed's is "
               + _factors(models, "en") + "; at every one of the {seeds} seeds of every model it is at least "
               "{worst:.1f}× lower.",
         "pt": "Em Mackey-Glass o RMSE de teste da persistência é {persistence:.3f}; o da semente mediana é "
               + _factors(models, "pt") + "; em cada uma das {seeds} sementes de cada modelo ele é pelo menos "
               "{worst:.1f}× menor."},
        evaluate, requires=names)


def _close_to_persistence_on_price(models: tuple[str, ...]) -> Claim:
    names = tuple(run_name("price", model) for model in models)

    def evaluate(results: Results):
        summaries = {model: results.summary(name) for model, name in zip(models, names)}
        best = min(s[Key.RATIO_MIN] for s in summaries.values())
        worst = max(s[Key.RATIO_MAX] for s in summaries.values())
        first = summaries[models[0]]
        held = 1 - PRICE_BAND <= best and worst <= 1 + PRICE_BAND
        return held, {"best": best, "worst": worst, "oracle": first[Key.ORACLE_RATIO],
                      "persistence": first[Key.PERSISTENCE_RMSE], "seeds": first[Key.SEEDS],
                      "beat": sum(s[Key.BEATS] for s in summaries.values()), "members": len(models) * first[Key.SEEDS]}

    return Claim(
        "nothing-much-beats-persistence-on-price",
        {"en": f"On the price, a random walk, nothing forecasts much better than repeating the last value: every "
               f"forecaster's held-out RMSE, at every seed, lies within {PRICE_BAND:.0%} of persistence's.",
         "pt": f"No preço, um passeio aleatório, nada prevê muito melhor do que repetir o último valor: o RMSE de "
               f"teste de todo previsor, em toda semente, fica a menos de {100 * PRICE_BAND:.0f}% do da persistência."},
        {"en": "On the price the forecasters' held-out RMSE ranges from ×{best:.3f} to ×{worst:.3f} persistence's "
               "({persistence:.4f}) over all {members} seeds and models ({beat} below it); a forecaster that knows the "
               "seasonal term exactly reaches ×{oracle:.3f}.",
         "pt": "No preço o RMSE de teste dos previsores vai de ×{best:.3f} a ×{worst:.3f} o da persistência "
               "({persistence:.4f}) em todas as {members} combinações de semente e modelo ({beat} abaixo dele); um "
               "previsor que conhece exatamente o termo sazonal chega a ×{oracle:.3f}."},
        evaluate, requires=names)
