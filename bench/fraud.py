"""Benchmark of ``results_above_line`` (issue 25 item 4): false alarms on clean simulated labs,
per 100 lab-months, and how often it catches labs that nudge failing results over the line.

**Clean labs.** ``--labs`` (2,000) labs of one province over ``--months`` (24) months, each with
its own mix: a monthly volume of 10 to 120 groups, a mean result 103 % to 140 % of the line and
a spread of 4 % to 16 %, drawn from one of four shapes (normal; right-skewed lognormal;
left-skewed, a reflected lognormal; a mixture of two suppliers, one close to the line): the
cases a normal fit gets wrong are in the population on purpose. Results are rounded to 0.1 MPa
as a lab reports them. At the end of every month each lab is judged as the daily sweep judges
it (:func:`jcjg.testing.fraud.pile_above` on the lab's last ``window`` months, its peers being
every other lab's same months), with the rule's default thresholds. An alarm on a clean lab
is a false alarm.

**Nudging labs.** The same labs again, each moving a share (``--nudge``, 0.5) of its groups
that fail by less than the band to just above the line (100 % to 100 % + band / 2): the share
of lab-months judged guilty once the nudging has gone on for the whole window.

    BENCH results_above_line_false_alarms <n> per_100_lab_months ratio=<÷ flat> baseline=flat_line
    BENCH results_above_line_recall <r> recall ratio=<÷ flat> baseline=flat_line

``flat_line`` is the same binomial test against an even split (the share above the line 0.5,
as if results were spread evenly near it): what a detector that ignores the shape of each
lab's results would say. Goal: <= 1 false alarm per 100 lab-months.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time

from jcjg.testing import fraud
from jcjg.testing.fraud import binomial_tail, near_line, pile_above

DEFAULTS = fraud.results_above_line.defaults  # the rule's own thresholds


def _lab(rng: random.Random) -> tuple[str, float, float, int]:
    shape = rng.choice(("normal", "right", "left", "mixture"))
    return shape, rng.uniform(103, 140), rng.uniform(4, 16), rng.randint(10, 120)


def _draw(rng: random.Random, lab: tuple[str, float, float, int]) -> float:
    shape, mean, spread, _ = lab
    if shape == "normal":
        value = rng.gauss(mean, spread)
    elif shape in ("right", "left"):
        sigma = 0.5
        skewed = (math.exp(rng.gauss(0, sigma)) - math.exp(sigma**2 / 2)) / (
            math.sqrt(math.exp(sigma**2) - 1) * math.exp(sigma**2 / 2)
        )
        value = mean + spread * (skewed if shape == "right" else -skewed)
    else:  # two suppliers: most far above, a third close to the line
        value = rng.gauss(mean, spread) if rng.random() < 0.67 else rng.gauss(104, 5)
    return round(value * 0.3, 1) / 0.3  # a C30's 0.1 MPa in percent of the line


def _months(
    rng: random.Random, labs: list[tuple[str, float, float, int]], months: int, nudge: float
) -> list[list[list[float]]]:
    band = float(DEFAULTS["band_percent"])
    out = []
    for lab in labs:
        series = []
        for _ in range(months):
            groups = [_draw(rng, lab) for _ in range(max(1, round(rng.gauss(lab[3], lab[3] / 5))))]
            if nudge:
                groups = [
                    100 + rng.uniform(0, band / 2)
                    if 100 - band <= g < 100 and rng.random() < nudge
                    else g
                    for g in groups
                ]
            series.append(groups)
        out.append(series)
    return out


def _judge(series: list[list[list[float]]], window: int, start: int) -> tuple[int, int, int]:
    """(lab-months judged, alarms, flat-line alarms) from month ``start`` on."""
    band = float(DEFAULTS["band_percent"])
    judged = alarms = flat = 0
    for month in range(start, len(series[0])):
        first = max(0, month - window + 1)
        windows = [[g for m in lab[first : month + 1] for g in m] for lab in series]
        counts = [near_line(w, band) for w in windows]
        pool_below = sum(c[1] for c in counts)
        pool_above = sum(c[2] for c in counts)
        for own, (_, below, above, _) in zip(windows, counts, strict=True):
            judged += 1
            pile = pile_above(own, (pool_below - below, pool_above - above), band=band)
            if pile.band_groups < DEFAULTS["min_band_groups"]:
                continue
            alarms += pile.probability < DEFAULTS["max_probability"]
            flat += binomial_tail(pile.above, pile.band_groups, 0.5) < DEFAULTS["max_probability"]
    return judged, alarms, flat


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--nudge", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--short", action="store_true", help="40 labs over 8 months")
    args = parser.parse_args(argv)
    if args.short:
        args.labs, args.months = 40, 8
    rng = random.Random(args.seed)
    window = int(DEFAULTS["months"])
    began = time.perf_counter()
    labs = [_lab(rng) for _ in range(args.labs)]
    clean = _months(random.Random(args.seed + 1), labs, args.months, 0.0)
    nudged = _months(random.Random(args.seed + 1), labs, args.months, args.nudge)
    judged, alarms, flat_alarms = _judge(clean, window, 0)
    # recall: once the lab has nudged for a whole window
    caught_judged, caught, flat_caught = _judge(nudged, window, window - 1)
    per_100 = alarms / judged * 100
    flat_per_100 = flat_alarms / judged * 100
    recall = caught / caught_judged
    flat_recall = flat_caught / caught_judged
    print(
        f"{args.labs} labs × {args.months} months: {judged} clean lab-months judged, "
        f"{alarms} alarms ({flat_alarms} by a flat line); {caught_judged} nudging lab-months, "
        f"{caught} caught ({flat_caught} by a flat line); {time.perf_counter() - began:.1f} s; "
        f"detector {fraud.__name__}.pile_above"
    )
    lines = [
        f"BENCH results_above_line_false_alarms {per_100:.3f} per_100_lab_months "
        f"ratio={per_100 / flat_per_100 if flat_per_100 else 0:.3f} baseline=flat_line",
        f"BENCH results_above_line_recall {recall:.3f} recall "
        f"ratio={recall / flat_recall if flat_recall else 0:.3f} baseline=flat_line",
    ]
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
