"""Read TensorBoard event files back: the check that an export holds what the store holds.

An event file is a sequence of TFRecords, each ``length (uint64) · masked CRC-32C of length (uint32) ·
data · masked CRC-32C of data (uint32)``, little-endian, whose data is a serialized ``Event`` protocol
buffer. tensorboardX ships the protocol buffers and the checksum, so reading needs neither TensorFlow nor
the ``tensorboard`` package.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradtrace.errors import GradtraceError

__all__ = ["EventLog", "Histogram", "read_events"]

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


@dataclass(frozen=True)
class Histogram:
    """A histogram as written: its bucket limits and counts, and the statistics TensorBoard keeps beside them."""

    limits: np.ndarray
    counts: np.ndarray
    min: float
    max: float
    num: float
    sum: float
    sum_squares: float


@dataclass
class EventLog:
    """What the event files of one folder hold, by tag: ``{tag: {step: value}}``.

    Attributes:
        scalars: the scalars (float32 in the file).
        histograms: the histograms.
        images: the encoded images (PNG bytes), with their height and width.
        hparams: the tags of the hyperparameter plugin's records (experiment, session start and end), with
            their serialized plugin data.
        files: the event files read.
    """

    scalars: dict[str, dict[int, float]] = field(default_factory=dict)
    histograms: dict[str, dict[int, Histogram]] = field(default_factory=dict)
    images: dict[str, dict[int, tuple[bytes, int, int]]] = field(default_factory=dict)
    hparams: dict[str, bytes] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def read_events(folder: str | os.PathLike) -> EventLog:
    """Read every event file directly in ``folder`` (not in its subfolders: each is a TensorBoard run).

    Args:
        folder: a TensorBoard run folder, e.g. ``runs/x/tensorboard/exploding/plain``.

    Returns:
        The :class:`EventLog` of its records; a value written twice at one step keeps the last.

    Raises:
        GradtraceError: if a record is truncated or does not match its checksum, naming the file and offset.
        ImportError: if tensorboardX is not installed.
    """
    from tensorboardX.proto.event_pb2 import Event

    log = EventLog()
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        log.files.append(path)
        for data in _records(path):
            event = Event()
            event.ParseFromString(data)
            step = int(event.step)
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    log.scalars.setdefault(value.tag, {})[step] = float(value.simple_value)
                elif kind == "histo":
                    h = value.histo
                    log.histograms.setdefault(value.tag, {})[step] = Histogram(
                        np.asarray(h.bucket_limit), np.asarray(h.bucket), h.min, h.max, h.num, h.sum, h.sum_squares)
                elif kind == "image":
                    image = value.image
                    log.images.setdefault(value.tag, {})[step] = (image.encoded_image_string, image.height,
                                                                   image.width)
                elif value.metadata.plugin_data.plugin_name == "hparams":
                    log.hparams[value.tag] = value.metadata.plugin_data.content
    return log


def _records(path: Path):
    """Yield the data of each TFRecord of ``path``, checking both checksums."""
    from tensorboardX.record_writer import masked_crc32c

    data = path.read_bytes()
    offset = 0
    while offset < len(data):
        if offset + _HEADER.size > len(data):
            raise GradtraceError(f"The event file {path} is truncated at byte {offset} (an incomplete record header).")
        length, length_crc = _HEADER.unpack_from(data, offset)
        if masked_crc32c(data[offset:offset + 8]) != length_crc:
            raise GradtraceError(f"The event file {path} is damaged at byte {offset}: a record's length does not "
                                 "match its checksum.")
        start = offset + _HEADER.size
        end = start + length
        if end + _FOOTER.size > len(data):
            raise GradtraceError(f"The event file {path} is truncated at byte {offset} (a record of {length} bytes "
                                 f"has {len(data) - start} left).")
        record = data[start:end]
        if masked_crc32c(record) != _FOOTER.unpack_from(data, end)[0]:
            raise GradtraceError(f"The event file {path} is damaged at byte {offset}: a record does not match its "
                                 "checksum.")
        yield record
        offset = end + _FOOTER.size
