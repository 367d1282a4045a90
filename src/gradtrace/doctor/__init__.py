"""The doctor: point gradtrace at your own PyTorch model and learn where its gradient dies or explodes.

``diagnose(model, loss_fn, batch)`` runs every ``nn.RNN``/``nn.LSTM``/``nn.GRU`` inside the model as an
unrolled twin sharing the model's own parameter tensors, hooks the cells a user's loop steps, follows
the gradient through depth with tensor hooks, and gives verdicts with their evidence. ``treat`` tries
the remedies on copies and says which one fixed it.
"""

from gradtrace.doctor.diagnose import LossFunctionError, diagnose
from gradtrace.doctor.diagnosis import DepthReading, Diagnosis, ModuleReading, ParameterReading, RecurrentReading
from gradtrace.doctor.omega import PascanuOmega
from gradtrace.doctor.treat import Treatment, Trial, treat
from gradtrace.doctor.verdicts import Verdict

__all__ = [
    "DepthReading",
    "Diagnosis",
    "LossFunctionError",
    "ModuleReading",
    "ParameterReading",
    "PascanuOmega",
    "RecurrentReading",
    "Treatment",
    "Trial",
    "Verdict",
    "diagnose",
    "treat",
]
