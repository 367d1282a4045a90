"""Write a run folder as TensorBoard event files (tensorboardX: numpy and protobuf, no TensorFlow).

Layout: ``<out>/<study>/<run>`` is one TensorBoard run per stored run; ``<out>/<study>`` itself holds the
study's report figures. Tags of a run:

- ``<key>`` for a series with one value per step; for a series per ensemble member, ``<key>/member_<k>``
  for each member and ``<key>/median`` for the ensemble (``<key>/fraction`` for a 0/1 flag such as
  ``clip/fired``: the fraction of members whose clip fired at that step). Steps are the stored steps
  (evaluation metrics at their evaluation steps). Scalars are float32 in the file; NaN and ±inf are written
  as they are (a diverged member shows as a gap).
- ``<key>/by_lag`` (``trace/grad_norms/by_lag``): at each trace snapshot, a histogram over lags whose bar at
  lag ℓ is the median over members of ‖∂L/∂h_t‖, ℓ = T − 1 − t steps back from the end of the sequence
  (or layers back from the output). It is not a distribution of samples: the histogram dashboard is used
  to show one curve per snapshot, stacked over training; a curve that falls with the lag is a gradient that
  vanishes going back in time. The bar of lag ℓ spans [ℓ, ℓ + 1) (bucket limit ℓ + 1). A snapshot where some
  lag has no member with a finite value is left out (the scalars show the divergence).
- ``summary/<key>`` for the run summary's numbers (and ``summary/seconds``) at the run's last step, also the
  metrics of the hyperparameters dashboard, whose hyperparameters are the run's config.
- ``figures/<nn> <title>`` in ``<out>/<study>``: each report figure, the PNG the report embeds, byte for byte.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from gradtrace.export import ExportResult, StudyFigures, final_metrics, hyperparameters, name_for
from gradtrace.export.series import RunSeries, summary_tag
from gradtrace.store import RunRecord, Store

__all__ = ["BY_LAG", "TensorBoardTarget", "figure_tag", "profile_tag"]

#: The suffix of a profile's histogram tag.
BY_LAG = "by_lag"
# Events kept in memory before the writer's thread writes them: large, because a run writes thousands at once.
_QUEUE = 10_000
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A PNG's colour type (byte 25) -> channels, for the image summary's colorspace.
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}


def profile_tag(key: str) -> str:
    """Return the histogram tag of a profile: ``trace/grad_norms/by_lag``."""
    return f"{name_for(key)}/{BY_LAG}"


def figure_tag(name: str) -> str:
    """Return the image tag of a figure named ``01 Title``: ``figures/01 Title``."""
    return f"figures/{name}"


class TensorBoardTarget:
    """Writes studies and runs to ``out`` (see the module docstring); a context manager."""

    #: What a new export keeps of a previous one in ``out``: nothing.
    KEEP = ()

    def __init__(self, store: Store, out: Path):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter
        self.store = store
        self.out = out

    def __enter__(self) -> TensorBoardTarget:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def report(self) -> None:
        """Nothing: the report's figures are written with each study."""

    def view(self) -> str:
        return f"tensorboard --logdir {_quote(self.out)}"

    def study(self, study: str, figures: StudyFigures, result: ExportResult) -> None:
        """Write the study's figures as images in ``<out>/<study>``."""
        if not figures.figures:
            return
        from tensorboardX.proto.summary_pb2 import Summary

        with self._writer(logdir=str(self.out / study), max_queue=_QUEUE, flush_secs=3600) as writer:
            for name, _, _, png in figures.figures:
                height, width, channels = _png_size(png)
                image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=png)
                writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=figure_tag(name), image=image)]),
                                               global_step=0)
                result.images += 1

    def run(self, record: RunRecord, series: RunSeries, result: ExportResult) -> None:
        """Write one run's scalars, profiles and hyperparameters in ``<out>/<study>/<run>``."""
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import hparams

        def add_scalar(tag: str, value: float, step: int) -> None:
            # The Summary itself: SummaryWriter.add_scalar prints a line for every NaN or infinity it is given.
            writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=value)]), step)

        last = 0
        with self._writer(logdir=str(self.out / record.study / record.name), max_queue=_QUEUE,
                          flush_secs=3600) as writer:
            for item in series.series:
                steps = item.steps.tolist()
                last = max([last, *steps[-1:]])
                for tag, values in item.lines().items():
                    tag = name_for(tag)
                    for step, value in zip(steps, values.tolist()):
                        add_scalar(tag, value, step)
                    result.scalars += len(steps)
            for profile in series.profiles:
                medians, whole = profile.medians()
                lags = medians.shape[1]
                tag = profile_tag(profile.key)
                for step, counts, complete in zip(profile.steps.tolist(), medians, whole):
                    if not complete:
                        result.nonfinite_snapshots += 1
                        continue
                    lag = np.arange(lags, dtype=np.float64)
                    writer.add_histogram_raw(tag, min=0.0, max=float(lags), num=float(counts.sum()),
                                             sum=float((lag * counts).sum()),
                                             sum_squares=float((lag * lag * counts).sum()),
                                             bucket_limits=(lag + 1).tolist(), bucket_counts=counts.tolist(),
                                             global_step=step)
                    result.histograms += 1
                    last = max(last, step)
            metrics = {name_for(summary_tag(key)): value for key, value in final_metrics(record).items()}
            experiment, start, end = hparams(hyperparameters(record), metrics)
            for summary in (experiment, start, end):
                writer.file_writer.add_summary(summary)
            for tag, value in metrics.items():
                add_scalar(tag, value, last)
            result.scalars += len(metrics)


def _png_size(png: bytes) -> tuple[int, int, int]:
    """Return a PNG's height, width and channels, from its header."""
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("A report figure is not a PNG image.")
    width, height = struct.unpack(">II", png[16:24])
    return height, width, _PNG_CHANNELS.get(png[25], 4)


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))

