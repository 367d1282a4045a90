"""The forecast study: the next value from the last five, four models against persistence.

Its config and keys (``config``), the change-forecasting task and the price's oracle (``change``), its runs
(``study``), its claims (``claims``) and its figures (``figures``).
"""

from gradtrace.studies.forecast.change import ChangeForecast, seasonal_oracle
from gradtrace.studies.forecast.config import MODELS, QUICK, SERIES, ForecastConfig, Key, run_name
from gradtrace.studies.forecast.study import ForecastStudy, fit_esn_to_windows

__all__ = ["MODELS", "QUICK", "SERIES", "ChangeForecast", "ForecastConfig", "ForecastStudy", "Key",
           "fit_esn_to_windows", "run_name", "seasonal_oracle"]
