"""The vanishing study: its config, its runs, its claims and (in ``figures``) its figures."""

from gradtrace.studies.vanishing.config import CURES, MODELS, QUICK, VanishingConfig
from gradtrace.studies.vanishing.study import Vanishing, build_model, fit_esn_readout

__all__ = ["CURES", "MODELS", "QUICK", "Vanishing", "VanishingConfig", "build_model", "fit_esn_readout"]
