"""The HPUN variants as data: one frozen dataclass each, with the paper's own figures beside it.

The paper's figures are its Table 3 (``../shared/design/paper-results.md``): parameters, Multi-Adds,
and PSNR / SSIM on Y (BI degradation, border = scale) on five benchmarks, without and with
self-ensemble ("+"); `PAPER_BICUBIC` is the table's bicubic row.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SCALES = (2, 3, 4)
PAPER_DATASETS = ("Set5", "Set14", "B100", "Urban100", "Manga109")  # Table 3's columns


@dataclass(frozen=True)
class PaperScore:
    """One cell of Table 3: PSNR (dB) and SSIM on Y, border = scale."""

    psnr: float
    ssim: float


def _row(*cells: float) -> dict[str, PaperScore]:
    """A Table 3 row: PSNR, SSIM pairs in `PAPER_DATASETS` order."""
    if len(cells) != 2 * len(PAPER_DATASETS):
        raise ValueError(f"a Table 3 row has {2 * len(PAPER_DATASETS)} figures, got {len(cells)}")
    return {d: PaperScore(cells[2 * i], cells[2 * i + 1]) for i, d in enumerate(PAPER_DATASETS)}


@dataclass(frozen=True)
class PaperFigures:
    """Table 3 of the paper for one variant, per scale: parameters (thousands), Multi-Adds (G), and
    the PSNR / SSIM per benchmark without (``scores``) and with self-ensemble (``scores_plus``)."""

    params_k: dict[int, float]
    multi_adds_g: dict[int, float]
    notes: dict[int, str] = field(default_factory=dict)
    scores: dict[int, dict[str, PaperScore]] = field(default_factory=dict)
    scores_plus: dict[int, dict[str, PaperScore]] = field(default_factory=dict)

    def score(self, scale: int, dataset: str, ensemble: bool = False) -> PaperScore | None:
        """The paper's figure for `dataset` at `scale` (None: the paper has none)."""
        return (self.scores_plus if ensemble else self.scores).get(scale, {}).get(dataset)


# Table 3's bicubic row. The paper prints Set14 x2 SSIM as 0.8488, a typo of the literature's 0.8688 (used).
PAPER_BICUBIC: dict[int, dict[str, PaperScore]] = {
    2: _row(33.66, 0.9299, 30.24, 0.8688, 29.56, 0.8431, 26.88, 0.8403, 30.80, 0.9339),
    3: _row(30.39, 0.8682, 27.55, 0.7742, 27.21, 0.7385, 24.46, 0.7349, 26.95, 0.8556),
    4: _row(28.42, 0.8104, 26.00, 0.7027, 25.96, 0.6675, 23.14, 0.6577, 24.89, 0.7866),
}


def paper_bicubic(scale: int, dataset: str) -> PaperScore | None:
    """Table 3's bicubic figure for `dataset` at `scale` (None: not in the table)."""
    return PAPER_BICUBIC.get(scale, {}).get(dataset)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    title: str
    blocks: int  # HPUBs (dense_front) or PUB pairs
    dense_front: bool  # True: HPUB (dense 3x3 front conv); False: PUB pair (SRDSC(1) front)
    paper: PaperFigures
    channels: int = 64
    # Bias policy: the counts cannot settle whether the PUD and SRDSC convs carry biases (see the
    # design page). We keep them (the reading that lands M and L within 0.1% of the paper); the
    # dense convs, head, tail and MeanShift always have biases.
    block_bias: bool = True
    scales: tuple[int, ...] = SCALES

    @property
    def bias_policy(self) -> str:
        return "all convs have biases" if self.block_bias else "no biases in PUD/SRDSC convs"


_L_X2_NOTE = (
    "paper's 151.1G contradicts its own L x3/x4 and M figures (they imply 154.0G): likely a typo"
)

VARIANTS: dict[str, VariantSpec] = {
    v.name: v
    for v in (
        VariantSpec(
            name="hpun_s",
            title="HPUN-S",
            blocks=8,
            dense_front=False,
            paper=PaperFigures(
                {2: 226, 3: 234, 4: 246}, {2: 45.9, 3: 21.3, 4: 12.7},
                scores={
                    2: _row(37.93, 0.9604, 33.46, 0.9170, 32.13, 0.8990, 31.70, 0.9245, 38.60, 0.9768),
                    3: _row(34.32, 0.9262, 30.25, 0.8404, 29.05, 0.8036, 27.80, 0.8456, 33.31, 0.9425),
                    4: _row(32.00, 0.8921, 28.50, 0.7792, 27.51, 0.7339, 25.79, 0.7769, 30.14, 0.9038),
                },
                scores_plus={
                    2: _row(38.01, 0.9605, 33.54, 0.9177, 32.17, 0.8994, 31.84, 0.9257, 38.82, 0.9774),
                    3: _row(34.39, 0.9269, 30.33, 0.8417, 29.09, 0.8046, 27.92, 0.8477, 33.58, 0.9441),
                    4: _row(32.14, 0.8940, 28.60, 0.7808, 27.56, 0.7350, 25.90, 0.7796, 30.43, 0.9070),
                },
            ),
        ),
        VariantSpec(
            name="hpun_m",
            title="HPUN-M",
            blocks=8,
            dense_front=True,
            paper=PaperFigures(
                {2: 492, 3: 500, 4: 511}, {2: 106.2, 3: 48.1, 4: 27.7},
                scores={
                    2: _row(38.03, 0.9604, 33.60, 0.9185, 32.20, 0.9000, 32.09, 0.9282, 38.83, 0.9775),
                    3: _row(34.39, 0.9269, 30.33, 0.8420, 29.11, 0.8052, 28.06, 0.8508, 33.54, 0.9441),
                    4: _row(32.19, 0.8946, 28.61, 0.7818, 27.58, 0.7364, 26.04, 0.7851, 30.49, 0.9078),
                },
                scores_plus={
                    2: _row(38.08, 0.9607, 33.67, 0.9190, 32.24, 0.9004, 32.23, 0.9294, 39.03, 0.9779),
                    3: _row(34.47, 0.9276, 30.41, 0.8432, 29.15, 0.8060, 28.18, 0.8529, 33.81, 0.9457),
                    4: _row(32.29, 0.8959, 28.69, 0.7833, 27.64, 0.7377, 26.15, 0.7877, 30.74, 0.9106),
                },
            ),
        ),
        VariantSpec(
            name="hpun_l",
            title="HPUN-L",
            blocks=12,
            dense_front=True,
            paper=PaperFigures(
                {2: 714, 3: 723, 4: 734}, {2: 151.1, 3: 69.3, 4: 39.7}, notes={2: _L_X2_NOTE},
                scores={
                    2: _row(38.09, 0.9608, 33.79, 0.9198, 32.25, 0.9006, 32.37, 0.9307, 39.07, 0.9779),
                    3: _row(34.56, 0.9281, 30.45, 0.8445, 29.18, 0.8072, 28.37, 0.8572, 33.90, 0.9463),
                    4: _row(32.31, 0.8962, 28.73, 0.7842, 27.66, 0.7386, 26.27, 0.7918, 30.77, 0.9109),
                },
                scores_plus={
                    2: _row(38.15, 0.9610, 33.87, 0.9206, 32.29, 0.9010, 32.54, 0.9320, 39.25, 0.9783),
                    3: _row(34.63, 0.9287, 30.52, 0.8455, 29.22, 0.8080, 28.49, 0.8592, 34.12, 0.9476),
                    4: _row(32.40, 0.8974, 28.80, 0.7856, 27.70, 0.7397, 26.38, 0.7943, 31.00, 0.9133),
                },
            ),
        ),
    )
}


class UnknownModelError(ValueError):
    pass


def get_variant(name: str) -> VariantSpec:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; valid names: {', '.join(VARIANTS)}"
        ) from None


def check_scale(spec: VariantSpec, scale: int) -> int:
    if scale not in spec.scales:
        raise ValueError(
            f"{spec.name}: unsupported scale {scale}; valid scales: {', '.join(map(str, spec.scales))}"
        )
    return scale
