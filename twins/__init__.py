"""The predictive digital twin: forecasts of mobility, channel quality and task arrivals.

``PredictiveTwin`` serves any agent (``update(obs)`` then ``forecast()`` → ``Forecast``);
``PredictiveObservation`` is the wrapper behind ``gym.make("VEC-pDT-v0")``. The LSTM arrival
forecaster (``arrivals="lstm"``) needs the ``forecast`` extra (torch) and is imported only then.
"""

from __future__ import annotations

from .embedding import embed_text
from .twin import Forecast, PredictiveTwin
from .wrapper import PredictiveObservation, make_pdt_env

__all__ = ["Forecast", "PredictiveObservation", "PredictiveTwin", "embed_text", "make_pdt_env"]
