"""Recurrent models with their states on the gradient path, as ensembles of K members."""

from gradtrace.errors import check_choice
from gradtrace.models.base import READOUTS, RecurrentModel, Trajectory
from gradtrace.models.elman import ElmanRNN
from gradtrace.models.esn import ESN
from gradtrace.models.gru import GRU
from gradtrace.models.lstm import LSTM
from gradtrace.models.mlp import MLP, MLP_INITIALIZATIONS, LayerTrajectory

__all__ = [
    "ESN",
    "GRU",
    "LSTM",
    "MLP",
    "MLP_INITIALIZATIONS",
    "MODELS",
    "READOUTS",
    "ElmanRNN",
    "LayerTrajectory",
    "RecurrentModel",
    "Trajectory",
    "make_model",
]

#: Model classes by name.
MODELS: dict[str, type[RecurrentModel] | type[MLP]] = {"elman": ElmanRNN, "lstm": LSTM, "gru": GRU, "esn": ESN,
                                                       "mlp": MLP}


def make_model(name: str, *args, **options) -> RecurrentModel | MLP:
    """Build a model by name: ``make_model("lstm", 2, 32, 1, num_models=5, seed=0)``."""
    return MODELS[check_choice("model", name, MODELS, what="model")](*args, **options)
