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

**Labs that pass everything.** The same labs again, honest for their first ``history_months``
(12) months, then moving *every* failing group, however far below the line, to just above it:
both sides below the line empty, so the pile's own prediction has nothing to go on, and it is
the vanished failures (:func:`jcjg.testing.fraud.failures_vanished`: the window's failures
against the lab's own earlier rate and its peers', the lower of the two lower bounds) that
catch them, once the window lies wholly in the cheating months.

    BENCH results_above_line_false_alarms <n> per_100_lab_months ratio=<÷ flat> baseline=flat_line
    BENCH results_above_line_recall <r> recall ratio=<÷ flat> baseline=flat_line
    BENCH results_above_line_recall_all_failures <r> recall ratio=<÷ flat> baseline=flat_line

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
from jcjg.testing.fraud import binomial_tail, failures_vanished, near_line, pile_above

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
    rng: random.Random,
    labs: list[tuple[str, float, float, int]],
    months: int,
    nudge: float,
    *,
    every_from: int | None = None,
) -> list[list[list[float]]]:
    """Each lab's groups month by month: nudging a share ``nudge`` of its near misses, or from
    month ``every_from`` on moving every failing group, to just above the line."""
    band = float(DEFAULTS["band_percent"])
    out = []
    for lab in labs:
        series = []
        for month in range(months):
            groups = [_draw(rng, lab) for _ in range(max(1, round(rng.gauss(lab[3], lab[3] / 5))))]
            if nudge:
                groups = [
                    100 + rng.uniform(0, band / 2)
                    if 100 - band <= g < 100 and rng.random() < nudge
                    else g
                    for g in groups
                ]
            if every_from is not None and month >= every_from:
                groups = [100 + rng.uniform(0, band / 2) if g < 100 else g for g in groups]
            series.append(groups)
        out.append(series)
    return out


def _judge(
    series: list[list[list[float]]],
    window: int,
    start: int,
    honest: list[list[list[float]]] | None = None,
) -> tuple[int, int, int, int]:
    """(lab-months judged, alarms, flat-line alarms, alarms of the pile alone) from month
    ``start`` on, as the rule judges: the pile, or the vanished failures. Each lab's peers in
    the failure rates are the other labs of ``series``, or of ``honest`` (one cheat among
    honest labs)."""
    honest = honest or series
    band = float(DEFAULTS["band_percent"])
    most = DEFAULTS["max_probability"]
    history_months = int(DEFAULTS["history_months"])
    judged = alarms = flat = piled = 0
    for month in range(start, len(series[0])):
        first = max(0, month - window + 1)
        windows = [[g for m in lab[first : month + 1] for g in m] for lab in series]
        befores = [
            [g for m in lab[max(0, first - history_months) : first] for g in m] for lab in series
        ]
        counts = [near_line(w, band) for w in windows]
        pool_below = sum(c[1] for c in counts)
        pool_above = sum(c[2] for c in counts)
        theirs = [[g for m in lab[first : month + 1] for g in m] for lab in honest]
        failures = [sum(1 for g in w if g < 100) for w in theirs]
        pool_groups, pool_failures = sum(len(w) for w in theirs), sum(failures)
        for own, before, (_, below, above, _), failed, mine in zip(
            windows, befores, counts, failures, theirs, strict=True
        ):
            judged += 1
            pile = pile_above(own, (pool_below - below, pool_above - above), band=band)
            if pile.band_groups < DEFAULTS["min_band_groups"]:
                continue
            gone = failures_vanished(own, before, (pool_groups - len(mine), pool_failures - failed))
            piled += pile.probability < most
            alarms += pile.probability < most or (gone is not None and gone.probability < most)
            flat += binomial_tail(pile.above, pile.band_groups, 0.5) < most
    return judged, alarms, flat, piled


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", type=int, default=2000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--nudge", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument("--short", action="store_true", help="40 labs over 20 months")
    args = parser.parse_args(argv)
    if args.short:
        args.labs, args.months = 40, 20
    rng = random.Random(args.seed)
    window = int(DEFAULTS["months"])
    began = time.perf_counter()
    labs = [_lab(rng) for _ in range(args.labs)]
    clean = _months(random.Random(args.seed + 1), labs, args.months, 0.0)
    nudged = _months(random.Random(args.seed + 1), labs, args.months, args.nudge)
    history = min(int(DEFAULTS["history_months"]), max(args.months - window, 0))
    every = _months(random.Random(args.seed + 1), labs, args.months, 0.0, every_from=history)
    judged, alarms, flat_alarms, _ = _judge(clean, window, 0)
    # recall: once the lab has nudged for a whole window
    caught_judged, caught, flat_caught, _ = _judge(nudged, window, window - 1)
    every_judged, every_caught, every_flat, every_piled = _judge(
        every, window, history + window - 1, honest=clean
    )
    per_100 = alarms / judged * 100
    flat_per_100 = flat_alarms / judged * 100
    recall = caught / caught_judged
    flat_recall = flat_caught / caught_judged
    every_recall = every_caught / every_judged if every_judged else 0.0
    every_flat_recall = every_flat / every_judged if every_judged else 0.0
    print(
        f"{args.labs} labs × {args.months} months: {judged} clean lab-months judged, "
        f"{alarms} alarms ({flat_alarms} by a flat line); {caught_judged} nudging lab-months, "
        f"{caught} caught ({flat_caught} by a flat line); {every_judged} lab-months passing "
        f"everything, {every_caught} caught ({every_piled} by the pile alone, {every_flat} by a "
        "flat line); "
        f"{time.perf_counter() - began:.1f} s; detector {fraud.__name__}.pile_above and "
        "failures_vanished"
    )
    lines = [
        f"BENCH results_above_line_false_alarms {per_100:.3f} per_100_lab_months "
        f"ratio={per_100 / flat_per_100 if flat_per_100 else 0:.3f} baseline=flat_line",
        f"BENCH results_above_line_recall {recall:.3f} recall "
        f"ratio={recall / flat_recall if flat_recall else 0:.3f} baseline=flat_line",
        f"BENCH results_above_line_recall_all_failures {every_recall:.3f} recall "
        f"ratio={every_recall / every_flat_recall if every_flat_recall else 0:.3f} "
        "baseline=flat_line",
    ]
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main(sys.argv[1:])
