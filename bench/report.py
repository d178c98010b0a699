"""From the runs of one `make bench` to its summary: medians with [min-max] per line, ratios
paired within each repetition, the targets of issue 13, and the table bench/README.md shows
(`python -m bench --markdown` prints it again from bench/results.json)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Run = dict[str, Any]
Spread = dict[str, float]

# Per-run figures, as the worker prints them, and how the tables name them.
METRICS = (
    ("answers_per_s", "answers/s", "{:.0f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
    ("first_text_p50_ms", "first text p50 ms", "{:.1f}"),
    ("cpu_ms_per_answer", "CPU ms/answer", "{:.2f}"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}"),
)
TARGET_MEMBERS = 100
MOST_MEMBERS = 1000


def label(run: Run) -> str:
    """A, C, or `B sqlite` / `B postgres`."""
    engine = run.get("engine")
    return f"{run['approach']} {engine}" if engine else str(run["approach"])


def spread(values: Iterable[float]) -> Spread:
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}


def show(value: Spread | None, form: str = "{:.2f}") -> str:
    if value is None:
        return "n/a"
    low, high = form.format(value["min"]), form.format(value["max"])
    return f"{form.format(value['median'])} [{low}-{high}]"


def lines(runs: Sequence[Run]) -> list[str]:
    """Every approach's label, in the order the tables list them."""
    found = {label(run) for run in runs}
    return sorted(found, key=lambda name: (name[0], name != "B sqlite", name))


def figures(runs: Sequence[Run], name: str, members: int, metric: str) -> Spread | None:
    values = [run[metric] for run in runs if label(run) == name and run["members"] == members]
    return spread(values) if values else None


def paired(
    runs: Sequence[Run], top: str, bottom: str, members: int, combine: Callable[[Run, Run], float]
) -> Spread | None:
    """`combine(top's run, bottom's run)` within each repetition, then its spread."""
    by_rep: dict[tuple[str, int], Run] = {
        (label(run), run["rep"]): run for run in runs if run["members"] == members
    }
    values = [
        combine(by_rep[(top, rep)], by_rep[(bottom, rep)])
        for (name, rep) in by_rep
        if name == top and (bottom, rep) in by_rep
    ]
    return spread(values) if values else None


def ratio(metric: str) -> Callable[[Run, Run], float]:
    return lambda top, bottom: float(top[metric]) / float(bottom[metric])


def difference(metric: str) -> Callable[[Run, Run], float]:
    return lambda top, bottom: float(top[metric]) - float(bottom[metric])


def engines(runs: Sequence[Run]) -> list[str]:
    """sqlite first, then postgres when it ran."""
    return sorted({str(run["engine"]) for run in runs if run.get("engine")}, reverse=True)


@dataclass(frozen=True)
class Comparison:
    """A figure of B paired with A's or C's in the same repetition, and its target."""

    key: str  # its name in results.json
    what: str
    members: int
    bottom: str  # "A", "A-json" or "C"
    combine: Callable[[Run, Run], float]
    # The target: at least (or at most) `limit`; None when there is none.
    limit: float | None = None
    at_least: bool = False

    def target(self) -> str:
        return "" if self.limit is None else f"{'>=' if self.at_least else '<='} {self.limit:g}"

    def met(self, value: float) -> bool:
        assert self.limit is not None
        return value >= self.limit if self.at_least else value <= self.limit


PAIRED = (
    Comparison(
        "throughput_ratio_vs_sdk",
        "answers/s B/A",
        TARGET_MEMBERS,
        "A",
        ratio("answers_per_s"),
        0.97,
        at_least=True,
    ),
    Comparison(
        "added_cpu_ms_per_answer",
        "CPU ms/answer B-A",
        TARGET_MEMBERS,
        "A",
        difference("cpu_ms_per_answer"),
        0.3,
    ),
    Comparison("added_p50_ms", "p50 ms B-A", TARGET_MEMBERS, "A", difference("p50_ms")),
    # Against the SDK reading chunks as B's gateway reads them: the bot's own work alone.
    Comparison(
        "throughput_ratio_vs_sdk_json",
        "answers/s B/A-json",
        TARGET_MEMBERS,
        "A-json",
        ratio("answers_per_s"),
    ),
    Comparison(
        "own_cpu_ms_per_answer",
        "CPU ms/answer B-(A-json)",
        TARGET_MEMBERS,
        "A-json",
        difference("cpu_ms_per_answer"),
    ),
    Comparison(
        "throughput_ratio_vs_client_per_message",
        "answers/s B/C",
        TARGET_MEMBERS,
        "C",
        ratio("answers_per_s"),
        5,
        at_least=True,
    ),
    Comparison("p99_ratio_vs_sdk_at_1000", "p99 B/A", MOST_MEMBERS, "A", ratio("p99_ms"), 1.10),
    Comparison(
        "peak_rss_ratio_vs_sdk_at_1000",
        "peak RSS B/A",
        MOST_MEMBERS,
        "A",
        ratio("peak_rss_mb"),
        1.15,
    ),
)
LOOKUP_TARGET_MS = 0.2


def summarise(runs: Sequence[Run], lookups: dict[str, Any]) -> dict[str, Any]:
    """The figures results.json keeps (besides the runs themselves)."""
    summary: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    for line in PAIRED:
        summary[line.key] = {}
        for engine in engines(runs):
            value = paired(runs, f"B {engine}", line.bottom, line.members, line.combine)
            summary[line.key][engine] = value
            if line.limit is not None and value is not None:
                targets.append(
                    {
                        "target": f"{line.what} at {line.members} members {line.target()}",
                        "engine": engine,
                        "median": value["median"],
                        "met": line.met(value["median"]),
                    }
                )
    summary["peak_rss_mb"] = {
        name: figures(runs, name, MOST_MEMBERS, "peak_rss_mb") for name in lines(runs)
    }
    summary["lookup_unseal_p99_ms"] = {
        engine: sizes[100_000]["p99_ms"] for engine, sizes in lookups.items() if 100_000 in sizes
    }
    summary["lookup_unseal_p99_ms_at_1m"] = {
        engine: sizes[1_000_000]["p99_ms"]
        for engine, sizes in lookups.items()
        if 1_000_000 in sizes
    }
    for engine, p99 in summary["lookup_unseal_p99_ms_at_1m"].items():
        targets.append(
            {
                "target": f"lookup+unseal p99 at 1,000,000 keys <= {LOOKUP_TARGET_MS} ms",
                "engine": engine,
                "median": p99,
                "met": p99 <= LOOKUP_TARGET_MS,
            }
        )
    summary["targets"] = targets
    return summary


def _cells(runs: Sequence[Run], name: str, members: int) -> list[str]:
    return [show(figures(runs, name, members, metric), form) for metric, _, form in METRICS]


def _load(machine: dict[str, Any]) -> str:
    if "load_before" not in machine:
        return "the machine's load was not recorded"
    return (
        f"1-minute load average {machine['load_before']:.1f} before, "
        f"{machine['load_after']:.1f} after"
    )


def markdown(results: dict[str, Any]) -> str:
    """The tables bench/README.md shows, from results.json."""
    runs: list[Run] = results["runs"]
    machine = results["machine"]
    out = [
        f"One run on {results['date']}: {machine['cpu']}, {machine['cores']} cores; "
        f"{results['repetitions']} repetitions, median [min-max]; "
        f"{results['answers_checked']:,} answers, each checked to show its asker's key tail; "
        f"{results['seconds']:.0f} s in all; {_load(machine)}.",
        "",
        "| members | line | " + " | ".join(title for _, title, _ in METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
    ]
    for members in sorted({run["members"] for run in runs}):
        for name in lines(runs):
            if figures(runs, name, members, "answers_per_s") is not None:
                row = " | ".join(_cells(runs, name, members))
                out.append(f"| {members} | {name} | {row} |")
    out += [
        "",
        "Paired within each repetition, B against A (the bare SDK), A-json (the bare SDK "
        "reading chunks as B does: B's own work alone) and C (a new client per message):",
        "",
        "| members | engine | B/A answers/s | B/A-json answers/s | B/C answers/s "
        "| CPU ms/answer B-A | CPU ms/answer B-(A-json) | p50 ms B-A | p99 B/A | peak RSS B/A |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for members in sorted({run["members"] for run in runs}):
        for engine in engines(runs):
            top = f"B {engine}"
            cells = [
                show(paired(runs, top, "A", members, ratio("answers_per_s"))),
                show(paired(runs, top, "A-json", members, ratio("answers_per_s"))),
                show(paired(runs, top, "C", members, ratio("answers_per_s"))),
                show(paired(runs, top, "A", members, difference("cpu_ms_per_answer"))),
                show(paired(runs, top, "A-json", members, difference("cpu_ms_per_answer"))),
                show(paired(runs, top, "A", members, difference("p50_ms")), "{:.1f}"),
                show(paired(runs, top, "A", members, ratio("p99_ms"))),
                show(paired(runs, top, "A", members, ratio("peak_rss_mb"))),
            ]
            out.append(f"| {members} | {engine} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| lookup + unseal | stored keys | p50 ms | p99 ms | fill s |",
        "|---|---|---|---|---|",
    ]
    for engine, sizes in results["lookups"].items():
        for size, figure in sizes.items():
            out.append(
                f"| {engine} | {int(size):,} | {figure['p50_ms']:.3f} | {figure['p99_ms']:.3f} "
                f"| {figure['fill_s']:.1f} |"
            )
    for engine, floor in results.get("round_trip_floor", {}).items():
        out += [
            "",
            f"The floor under every {engine} lookup, in the same run: `SELECT 1` on one "
            f"connection, p50 {floor['p50_ms']:.3f} ms, p99 {floor['p99_ms']:.3f} ms.",
        ]
    out += [
        "",
        f"Ledger (SQLite): one transaction per usage row is "
        f"{results['ledger_one_by_one_vs_batched']:.0f}x slower than the ledger's batches.",
    ]
    out += ["", "| target (issue 13) | engine | median | met |", "|---|---|---|---|"]
    for target in results["targets"]:
        met = "yes" if target["met"] else "**no**"
        out.append(f"| {target['target']} | {target['engine']} | {target['median']:.3f} | {met} |")
    for line, reason in results.get("skipped", {}).items():
        out.append(f"\n{line}: skipped, {reason}")
    return "\n".join(out)
