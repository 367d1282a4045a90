"""Published figures of the classic papers, as data, for the reports to draw beside our runs.

Each :class:`PublishedResult` holds one paper's numbers for one experiment: the citation (with
the figure or table the numbers come from), the protocol the authors used, in words and as data,
and the published values as :class:`Series` of (x, y) points that a report can draw as a line.

Only numbers read in the paper's own text or tables are marked ``confirmed``. Where a figure
exists only as an image, or the paper's text could not be consulted, the entry says so in
``unconfirmed`` instead of guessing; a series taken from a secondary account has
``confirmed=False`` and names its source in ``note``.

Example:
    >>> lstm = PUBLISHED["hochreiter1997"].series_named("LSTM: training sequences to success")
    >>> lstm.points[0]
    (100, 74000)
    >>> get_published("pascanu2013").settings["hidden_size"]
    50

References:
    Bengio, Simard & Frasconi 1994, IEEE Trans. Neural Networks 5(2):157–166.
    Hochreiter & Schmidhuber 1997, Neural Computation 9(8):1735–1780.
    Jaeger 2001, GMD Report 148; Jaeger & Haas 2004, Science 304(5667):78–80.
    Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063.
    Le, Jaitly & Hinton 2015, arXiv:1504.00941.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gradtrace.errors import check_choice

__all__ = ["PUBLISHED", "Y_KINDS", "Citation", "PublishedResult", "Series", "get_published"]

#: What a series' y values are. Rates ("success_rate", "accuracy", "error_rate") lie in [0, 1].
Y_KINDS: tuple[str, ...] = ("success_rate", "accuracy", "error_rate", "count", "nrmse")
_RATES = ("success_rate", "accuracy", "error_rate")


@dataclass(frozen=True)
class Citation:
    """Where a published number comes from.

    Attributes:
        authors: surnames as printed, e.g. ``"Hochreiter & Schmidhuber"``.
        year: year of publication.
        title: the paper's title.
        venue: journal, proceedings or report series, with volume and pages where known.
        locator: the figure, table or section holding the numbers.
        arxiv: arXiv identifier, if any.
    """

    authors: str
    year: int
    title: str
    venue: str
    locator: str
    arxiv: str | None = None

    def __str__(self) -> str:
        return self.cite()

    def cite(self, locator: str | None = None) -> str:
        """Return the citation as one string, ending with ``locator`` in place of :attr:`locator` if given.

        A report in another language passes its own words for the figure or table; the rest of a citation
        (authors, title, venue) stays as published.

        Example:
            >>> Citation("Jaeger", 2001, "Echo states", "GMD Report 148", "Section 6").cite("Seção 6")
            'Jaeger 2001, "Echo states", GMD Report 148; Seção 6'
        """
        arxiv = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f'{self.authors} {self.year}, "{self.title}", {self.venue}{arxiv}; {locator or self.locator}'


@dataclass(frozen=True)
class Series:
    """Published (x, y) values that a report draws as one line.

    Attributes:
        label: legend entry, unique within its result.
        x_name: what x is, with its unit (e.g. ``"minimal sequence length T (steps)"``).
        y_name: what y is, with its unit.
        y_kind: one of ``Y_KINDS``; rates must lie in [0, 1].
        points: (x, y) pairs with strictly ascending, finite x and finite y.
        locator: the figure or table the points come from.
        confirmed: whether every value was read in the paper itself.
        note: caveats (averaging, provenance of unconfirmed values).

    Raises:
        ValueError: for an empty series, unordered or non-finite x, or a rate outside [0, 1].
    """

    label: str
    x_name: str
    y_name: str
    y_kind: str
    points: tuple[tuple[float, float], ...]
    locator: str
    confirmed: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        check_choice("y_kind", self.y_kind, Y_KINDS, what="y kind")
        if not self.points:
            raise ValueError(f"Series {self.label!r} has no points.")
        for x, y in self.points:
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"Series {self.label!r} has a non-finite point ({x}, {y}).")
            if self.y_kind in _RATES and not 0.0 <= y <= 1.0:
                raise ValueError(f"Series {self.label!r} is a {self.y_kind} but has y={y} outside [0, 1].")
        xs = self.xs
        if any(b <= a for a, b in zip(xs, xs[1:])):
            raise ValueError(f"Series {self.label!r} must have strictly ascending x, got {xs}.")

    @property
    def xs(self) -> tuple[float, ...]:
        """The x values, in order."""
        return tuple(x for x, _ in self.points)

    @property
    def ys(self) -> tuple[float, ...]:
        """The y values, in the order of ``xs``."""
        return tuple(y for _, y in self.points)


@dataclass(frozen=True)
class PublishedResult:
    """One paper's published result on one experiment, with the protocol that produced it.

    Attributes:
        key: short name, e.g. ``"pascanu2013"``.
        citation: the paper and the figure/table the numbers come from.
        task: one line naming the task as the paper set it.
        protocol: units, sequence lengths, optimizer, learning rate, budget and success criterion
            in a few sentences.
        settings: the same protocol as data, read in the paper (read-only).
        series: the published numbers as lines; may be empty when none could be transcribed.
        claims: further published statements worth quoting beside our results.
        unconfirmed: what we could not check in the paper, and where a number came from instead.
    """

    key: str
    citation: Citation
    task: str
    protocol: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    series: tuple[Series, ...] = ()
    claims: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        labels = [s.label for s in self.series]
        if len(set(labels)) != len(labels):
            raise ValueError(f"Result {self.key!r} has duplicate series labels: {labels}.")

    @property
    def source(self) -> str:
        """The full citation as one string."""
        return str(self.citation)

    def series_named(self, label: str) -> Series:
        """Return the series called ``label``.

        Raises:
            ValueError: for an unknown label, listing the available ones.
        """
        by_label = {s.label: s for s in self.series}
        return by_label[check_choice("label", label, by_label, what=f"series of {self.key!r}")]


def _curve(label, x_name, y_name, y_kind, points, locator, **kwargs) -> Series:
    return Series(label, x_name, y_name, y_kind, tuple(points), locator, **kwargs)


# ---------------------------------------------------------------------------------------------
# Pascanu, Mikolov & Bengio 2013: clipping and the Ω regularizer on the temporal order problem.
# Read in the ICML 2013 text (Sections 3.2, 3.3, 4.1); Figure 7 is an image there.
_PASCANU_LENGTHS = (50, 100, 150, 200, 250, 500, 1000, 2000, 3000, 5000)

_PASCANU2013 = PublishedResult(
    key="pascanu2013",
    citation=Citation(
        authors="Pascanu, Mikolov & Bengio",
        year=2013,
        title="On the difficulty of training recurrent neural networks",
        venue="ICML 2013, JMLR W&CP 28",
        locator="Section 4.1.1 and Figure 7",
        arxiv="1211.5063",
    ),
    task=("Temporal order: a stream of distractor symbols with A or B shown once near the start and once "
          "near the middle; classify the order (AA, AB, BA, BB) at the last step."),
    protocol=(
        "Elman RNN with 50 hidden units; minibatch SGD (MSGD), minibatches of 20, constant learning rate "
        "0.01, no momentum; MSGD-C clips the gradient norm at 1; MSGD-CR adds the Ω regularizer with weight "
        "4 (MSGD-CR = clipping + Ω). Three initializations with all biases 0: 'sigmoid' (sigmoid units, "
        "W_rec, W_in, W_out ~ N(0, 0.01)), 'basic tanh' (tanh, N(0, 0.1)), 'smart tanh' (tanh, W_in, W_out "
        "~ N(0, 0.01), W_rec sparse with 15 non-zero incoming weights per unit, spectral radius 0.95). "
        "At most 5M updates; a run succeeds when under 1% of 10,000 fresh sequences are misclassified; "
        "5 runs (seeds) per point."
    ),
    settings={
        "hidden_size": 50,
        "optimizer": "sgd",
        "momentum": 0.0,
        "lr": 0.01,
        "batch_size": 20,
        "clip_threshold": 1.0,
        "penalty_weight": 4.0,
        "max_updates": 5_000_000,
        "eval_sequences": 10_000,
        "success_max_error": 0.01,
        "runs_per_point": 5,
        "inits": ("sigmoid", "basic_tanh", "smart_tanh"),
        "init_std": {"sigmoid": 0.01, "basic_tanh": 0.1, "smart_tanh": 0.01},
        "smart_tanh_nonzero_per_unit": 15,
        "smart_tanh_spectral_radius": 0.95,
        "mixed_train_lengths": (50, 200),
    },
    series=(
        _curve(
            "MSGD-CR, basic tanh, trained on T in [50, 200]: accuracy at unseen lengths",
            "evaluation sequence length T (steps)", "fraction of 10,000 test sequences classified correctly",
            "accuracy", [(T, 1.0) for T in _PASCANU_LENGTHS], "Section 4.1.1 (text)",
            note="One trained 50-unit model; 0 misclassified at every listed length.",
        ),
    ),
    claims=(
        "Trained on random lengths in [50, 200] (MSGD-CR, 50 tanh units, basic tanh init), 5 of 5 seeds "
        "succeeded, each with 0 misclassified sequences out of 10,000.",
        "The regularizer without clipping usually fails because the gradients explode (footnote 4).",
        "MSGD-CR also solves the addition, multiplication, 3-bit temporal order, random permutation and "
        "noiseless memorization problems over 5 seeds each (lengths up to 200); all seeds succeed except on "
        "random permutation, where 2 of 5 do. Addition and multiplication generalize to 500 steps.",
        "Clipping matters more as sequences get longer (Figure 7).",
    ),
    unconfirmed=(
        "Figure 7's success rates per sequence length for MSGD, MSGD-C and MSGD-CR under the three "
        "initializations exist only as an image in the text we could read; no value was transcribed, and "
        "the lengths on its x axis are not known to us.",
        "'N(0, 0.01)' is read as a standard deviation of 0.01, as in the authors' released code "
        "(pascanur/trainingRNNs, RNN.py); that code's default regularizer weight is 2, not the 4 of the text.",
        "In the released code the two symbols sit in [0.1T, 0.2T) and [0.5T, 0.6T) among 4 distractors "
        "(tempOrder.py); the paper only says 'at the beginning and middle'.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Hochreiter & Schmidhuber 1997: LSTM on the adding problem (Table 7) and on Bengio et al.'s
# 2-sequence problem (Table 4). Read in the paper's text and tables.
_HOCHREITER1997 = PublishedResult(
    key="hochreiter1997",
    citation=Citation(
        authors="Hochreiter & Schmidhuber",
        year=1997,
        title="Long short-term memory",
        venue="Neural Computation 9(8):1735-1780",
        locator="Section 5.4, Table 7 (adding); Section 5.3, Table 4 (2-sequence)",
    ),
    task=("Adding problem (experiment 4): pairs (value in [-1, 1], marker); output 0.5 + (X1 + X2)/4 at the "
          "end of a sequence of random length in [T, T + T/10]; X1 among the first 10 pairs, X2 among the "
          "first T/2 - 1; minimal lag T/2."),
    protocol=(
        "LSTM with 2 input units, 1 output unit and 2 memory cell blocks of size 2 (93 weights); all "
        "non-input units biased; weights initialized in [-0.1, 0.1], input-gate biases -3 and -6. Learning "
        "rate 0.5. Training stops once the average training error is below 0.01 and the 2000 most recent "
        "sequences were processed correctly (absolute error below 0.04). Then tested on 2560 fresh "
        "sequences; values are means over 10 trials; the budget is reported as training sequences seen."
    ),
    settings={
        "lengths": (100, 500, 1000),
        "minimal_lags": (50, 250, 500),
        "cell_blocks": 2,
        "cell_block_size": 2,
        "num_weights": 93,
        "init_range": 0.1,
        "input_gate_biases": (-3.0, -6.0),
        "lr": 0.5,
        "correct_abs_error": 0.04,
        "stop_train_error": 0.01,
        "stop_recent_correct": 2000,
        "test_sequences": 2560,
        "trials": 10,
    },
    series=(
        _curve(
            "LSTM: training sequences to success",
            "minimal sequence length T (steps)", "training sequences until the stopping criterion (mean of 10)",
            "count", [(100, 74_000), (500, 209_000), (1000, 853_000)], "Table 7",
            note="For T = 1000 single trials needed 370,000 to 2,020,000 sequences, over 700,000 in 3 of 10.",
        ),
        _curve(
            "LSTM: wrong test predictions",
            "minimal sequence length T (steps)", "fraction of 2560 test sequences with |error| > 0.04",
            "error_rate", [(100, 1 / 2560), (500, 0.0), (1000, 1 / 2560)], "Table 7",
        ),
        _curve(
            "LSTM on the 2-sequence problem, N=3: presentations to ST2",
            "minimal sequence length T (steps)", "training sequences until criterion ST2 (mean of 10)",
            "count", [(100, 39_850), (1000, 452_460)], "Table 4",
            note="Bengio et al.'s 2-sequence problem (Task 3a): the first N inputs are ±1, then noise of "
                 "variance 0.2; ST2 = no error on 256 test sequences and mean absolute error below 0.01.",
        ),
        _curve(
            "LSTM on the 2-sequence problem, N=1: presentations to ST2",
            "minimal sequence length T (steps)", "training sequences until criterion ST2 (mean of 10)",
            "count", [(100, 64_330)], "Table 4",
        ),
    ),
    claims=(
        "On the adding problem the average test error was always below 0.01 and no trial misprocessed more "
        "than 3 of the 2560 test sequences.",
        "The 2-sequence problem is so simple that random weight guessing solves it faster than LSTM "
        "(Table 4 caption).",
    ),
    unconfirmed=(
        "The paper does not report a success rate for the adding problem; its tables give means over trials "
        "that all reached the stopping criterion.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Le, Jaitly & Hinton 2015: IRNN on the adding problem. Only the abstract was available to us.
_LE2015 = PublishedResult(
    key="le2015",
    citation=Citation(
        authors="Le, Jaitly & Hinton",
        year=2015,
        title="A simple way to initialize recurrent networks of rectified linear units",
        venue="arXiv preprint",
        locator="adding-problem experiment, Figure 2 as recalled (section number not checked)",
        arxiv="1504.00941",
    ),
    task=("Adding problem: two input channels, values U[0, 1] and a marker with two ones; output the sum of "
          "the two marked values at the last step (MSE)."),
    protocol=(
        "IRNN: ReLU units with the recurrent matrix initialized to the identity (or a scaled identity) and "
        "biases zero, compared with a tanh RNN and an LSTM. Hidden size, optimizer, learning rates, clipping, "
        "budget and lengths were not read in the paper (see unconfirmed). Predicting 1 regardless of the "
        "input scores MSE 1/6 ≈ 0.167 (Var of the sum of two U[0, 1])."
    ),
    settings={
        "recurrent_init": "identity",
        "activation": "relu",
        "baseline_mse": 1 / 6,
    },
    claims=(
        "IRNNs are comparable to LSTMs on the paper's four benchmarks, two toy problems with long-range "
        "structure among them (abstract).",
        "At T = 150 the IRNN and the LSTM bring the test MSE from the baseline to near zero while the tanh RNN "
        "stays on the baseline (Figure 2, as recalled from the figure: no value was transcribed).",
    ),
    unconfirmed=(
        "The paper's text beyond the abstract could not be consulted: which of IRNN, tanh RNN and LSTM "
        "converged at which length is not recorded here.",
        "Sequence lengths 150, 200, 300 and 400, 100 hidden units, and 100,000 training / 10,000 test "
        "examples are as stated by a third-party reproduction (README of the 'othoz-adding-sum' tutorial), "
        "not read in the paper.",
        "The baseline MSE printed in the paper was not read; 1/6 here is arithmetic, not a quotation.",
        "Optimizer, learning rates, gradient-clipping values and the training budget are unknown to us; by "
        "most accounts plain SGD with gradient clipping, batches of 16, and training curves that run for far "
        "more updates than our budgets (not transcribed).",
        "The outcome at T = 150 quoted in the claims is recalled from Figure 2, which exists only as an image; "
        "its numbers were not read.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Jaeger 2001 (GMD Report 148): a 400-unit echo state network on Mackey-Glass. Read in Section 6.
_JAEGER2001 = PublishedResult(
    key="jaeger2001",
    citation=Citation(
        authors="Jaeger",
        year=2001,
        title='The "echo state" approach to analysing and training recurrent neural networks',
        venue="GMD Report 148, German National Research Center for Information Technology",
        locator="Section 6 (6.1 task, 6.2 network, 6.3-6.4 results)",
    ),
    task=("Mackey-Glass attractor learning: teacher-force an ESN with output feedback on the series, then "
          "let it run free and compare its prediction 84 steps ahead (NRMSE84)."),
    protocol=(
        "Mackey-Glass dy/dt = 0.2 y(t-tau)/(1 + y(t-tau)^10) - 0.1 y(t), tau = 17 (and 30), integrated by "
        "Euler steps of 1/10 and subsampled by 10, so one step is one time unit; shifted and squashed by "
        "tanh(y - 1). Training sequences of 3000 and 21000 steps. 400-unit leaky-integrator reservoir "
        "(raw |lambda_max| ≈ 0.79; step 1, time constant C = 0.44, leak a = 0.9, effective spectral radius "
        "≈ 0.95), a constant bias input 0.2, output feedback weights U[-0.56, 0.56]. Run from zero state "
        "teacher-forced, first 1000 states discarded, output weights by linear regression on the rest "
        "(no state noise needed for tau = 17). NRMSE84: 1000 teacher-forced steps then 84 free steps, "
        "error in the original coordinates normalized by the signal variance, averaged over 20 runs "
        "(tau = 17) or 50 runs (tau = 30)."
    ),
    settings={
        "tau": 17,
        "euler_step": 0.1,
        "subsample": 10,
        "squash": "tanh(y - 1)",
        "train_lengths": (3000, 21000),
        "reservoir_size": 400,
        "raw_spectral_radius": 0.79,
        "effective_spectral_radius": 0.95,
        "time_constant": 0.44,
        "leak": 0.9,
        "bias_input": 0.2,
        "feedback_range": 0.56,
        "washout": 1000,
        "horizon": 84,
        "teacher_forced_steps_at_test": 1000,
        "trials_tau17": 20,
        "trials_tau30": 50,
    },
    series=(
        _curve(
            "ESN, tau=17: NRMSE84", "training sequence length (steps)",
            "NRMSE of the free-run prediction 84 steps ahead", "nrmse",
            [(3000, 0.00028), (21000, 0.00012)], "Section 6.4",
        ),
        _curve(
            "ESN, tau=30: NRMSE84", "training sequence length (steps)",
            "NRMSE of the free-run prediction 84 steps ahead", "nrmse",
            [(3000, 0.11), (21000, 0.032)], "Sections 6.3.1 and 6.3.3",
            note="State noise U[-1e-5, 1e-5] (3000 steps) and U[-1e-8, 1e-8] (21000) was needed for stability.",
        ),
    ),
    claims=(
        "The best earlier tau = 17 model cited (local models with a SOM) reached NRMSE84 ≈ 0.0088; the ESN is "
        "about two orders of magnitude better.",
        "With the 21000-step model, tau = 17 predictions deviate visibly only after about 1200 free steps.",
    ),
    unconfirmed=(
        "No one-step-ahead error is reported for Mackey-Glass in this report.",
    ),
)

# ---------------------------------------------------------------------------------------------
# Jaeger & Haas 2004 (Science): only the preprint's abstract was available to us.
_JAEGER2004 = PublishedResult(
    key="jaeger2004",
    citation=Citation(
        authors="Jaeger & Haas",
        year=2004,
        title="Harnessing nonlinearity: predicting chaotic systems and saving energy in wireless "
              "telecommunication",
        venue="Science 304(5667):78-80",
        locator="Mackey-Glass benchmark (abstract and main text)",
    ),
    task="Mackey-Glass (tau = 17) prediction 84 steps ahead by a free-running echo state network.",
    protocol=(
        "Echo state network trained by linear regression of the readout on a Mackey-Glass series, then run "
        "free; the error is the NRMSE of the prediction 84 steps ahead. Reservoir size, training length "
        "and trial count were not read in the paper (see unconfirmed)."
    ),
    series=(
        _curve(
            "ESN (Jaeger & Haas 2004): NRMSE84", "prediction horizon (steps)",
            "NRMSE of the free-run prediction", "nrmse", [(84, 10**-4.2)], "main text",
            confirmed=False,
            note="log10 NRMSE84 = -4.2 as quoted by a third-party reproduction (rc_basics_lab, "
                 "figures_horizon.py), with a 1000-unit reservoir and 100 trials.",
        ),
    ),
    claims=(
        "On the chaotic time-series benchmark, accuracy improves by a factor of 2400 over previous "
        "techniques (abstract).",
    ),
    unconfirmed=(
        "NRMSE84 ≈ 10^-4.2, the 1000-unit reservoir and the 100 trials come from a secondary source.",
        "The training length and the sampling step of the Mackey-Glass series in this paper were not read; "
        "Jaeger 2001 subsampled Euler steps of 1/10 by 10 (one step per time unit).",
    ),
)

# ---------------------------------------------------------------------------------------------
# Bengio, Simard & Frasconi 1994: the minimal latching task. The paper itself was not available;
# the task is known from secondary accounts, its figure values not at all.
_BENGIO1994 = PublishedResult(
    key="bengio1994",
    citation=Citation(
        authors="Bengio, Simard & Frasconi",
        year=1994,
        title="Learning long-term dependencies with gradient descent is difficult",
        venue="IEEE Transactions on Neural Networks 5(2):157-166",
        locator="Section II (minimal task) and its experiment figure",
    ),
    task=("Minimal latching task: two classes of sequences of length T whose class depends only on the first "
          "L inputs; the later inputs are noise; a single recurrent tanh unit must latch the bit until T."),
    protocol=(
        "As described in secondary accounts: the first L inputs h_1..h_L are trainable values, the inputs "
        "after L are Gaussian noise; the unit x_t = tanh(w x_(t-1) + h_t) has two attractors ±x̄ when w > 1; "
        "the cost is ½ Σ_p (x_T - d_p)^2 with d = +0.8 (class 1) or -0.8 (class 0); trained by gradient "
        "descent, and the frequency of successful training is reported against T. Hochreiter & Schmidhuber "
        "(1997) describe the related 2-sequence problem with noise variance 0.2 and note that Bengio et al. "
        "also allowed sequences as short as T/2."
    ),
    claims=(
        "Robust latching (contracting hyperbolic attractors) and efficient gradient-based learning of the "
        "latched bit are at odds: the gradient from time T decays exponentially with the lag (Section II).",
    ),
    unconfirmed=(
        "The paper's text could not be consulted; the task definition above comes from a study-notes file "
        "quoting Section II, from Hochreiter & Schmidhuber 1997 (Section 5.3) and from Schmidhuber's "
        "report on random weight guessing (latch variant I: targets ±0.8, noise variance 0.2).",
        "The sequence lengths tested, the number of trials, the noise level and the value of L in the "
        "paper's experiment are unknown to us; the success-frequency-versus-T curve was not transcribed.",
        "The figure number of that experiment was not checked.",
    ),
)

#: Published results by key.
PUBLISHED: Mapping[str, PublishedResult] = MappingProxyType({
    r.key: r for r in (_PASCANU2013, _HOCHREITER1997, _LE2015, _JAEGER2001, _JAEGER2004, _BENGIO1994)
})


def get_published(key: str) -> PublishedResult:
    """Return the published result called ``key`` (e.g. ``"pascanu2013"``).

    Raises:
        ValueError: for an unknown key, listing the available ones.
    """
    return PUBLISHED[check_choice("key", key, PUBLISHED, what="published result")]
