"""The numbers derived from the timings (ratios, d2l's baseline table, TFLOP/s) and the
printed tables."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from measures import flops_per_step
from peers import Settings
from sides import KERAS_SIDES, SIDES

SIDE_TITLES = {
    "library": "library", "native": "native", "keras": "keras",
    "keras_equal_work": "keras equal work",
}  # fmt: skip
#: The performance targets: library / peer on the same framework, for both models.
TARGETS = {"native": 1.1, "keras": 1.5, "keras_equal_work": 1.5}
#: The first-step losses of a Keras variant and of the library agree within these (np.isclose).
#: Relative: the DCGAN's first discriminator update (lr 0.005) drives the generator's loss to
#: about 40, where float32 rounding shows; the same Keras code in NHWC and in NCHW differs by 5e-3.
LOSS_TOLERANCE = {"rtol": 1e-3, "atol": 1e-4}

# Examples/sec of d2l's code in the task's baseline table (CPU, 2 cores). MXNet's DCGAN
# number depends on OMP_NUM_THREADS: 1 thread or 2.
D2L_EXAMPLES_PER_SEC: dict[str, dict[str, float | dict[int, float]]] = {
    "gan": {"torch": 6370.0, "tensorflow": 210.0, "mxnet": 1671.0},
    "dcgan": {"torch": 56.6, "tensorflow": 39.2, "mxnet": {1: 33.2, 2: 62.0}},
}
D2L_CONFIGURATION = {
    "gan": {"batch_size": 8},
    "dcgan": {"batch_size": 64, "image_size": 64, "width": 64},
}


def d2l_examples_per_sec(
    settings: Settings, backend: str, threads: int | None = None
) -> float | None:
    """d2l's examples/sec in the baseline table, if this run's configuration is its
    (MXNet's DCGAN number also depends on the threads)."""
    configuration = D2L_CONFIGURATION[settings.model]
    if settings.device != "cpu" or any(getattr(settings, k) != v for k, v in configuration.items()):
        return None
    baseline = D2L_EXAMPLES_PER_SEC[settings.model].get(backend)  # none for JAX: d2l has none
    return baseline.get(threads) if isinstance(baseline, dict) else baseline


def timed_sides(result: dict[str, Any]) -> list[str]:
    return [side for side in SIDES if side in result]


def add_derived_numbers(result: dict[str, Any], settings: Settings) -> None:
    """Ratios against the peers and d2l's numbers, and achieved TFLOP/s."""
    library = result["library"]
    for side in timed_sides(result)[1:]:
        result[f"library_over_{side}"] = (
            library["examples_per_sec"] / result[side]["examples_per_sec"]
        )
    d2l = d2l_examples_per_sec(settings, result["backend"], library["threads"])
    d2l_torch = d2l_examples_per_sec(settings, "torch")
    result["d2l_examples_per_sec"] = d2l
    result["library_over_d2l"] = library["examples_per_sec"] / d2l if d2l else None
    result["library_over_d2l_torch"] = (
        library["examples_per_sec"] / d2l_torch if d2l_torch else None
    )
    flops = flops_per_step(settings)
    for side in timed_sides(result):
        result[side]["tflops"] = (
            flops * result[side]["examples_per_sec"] / settings.batch_size / 1e12
        )


def ratio_text(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "n/a"


def model_title(settings: Settings) -> str:
    if settings.model == "dcgan":
        return f"DCGAN {settings.image_size}x{settings.image_size}, width {settings.width}"
    return "GAN (2-D Gaussian)"


def print_report(
    settings: Settings,
    results: list[dict[str, Any]],
    failures: dict[str, str],
    peak_tflops: dict[str, float] | None,
) -> None:
    print(
        f"{model_title(settings)}, batch {settings.batch_size}, {settings.steps} steps per timed "
        f"epoch, median of {settings.repeats} (every side alternating, one warm-up epoch each), "
        f"--device {settings.device}"
        + (f", library in --precision {settings.precision}" if settings.precision != "32" else "")
    )
    print(
        f"{'backend':<11} {'version':<12} {'device lib/nat':<16} {'threads':>7} "
        f"{'library ex/s':>12} {'native ex/s':>11} {'lib/native':>10} {'d2l ex/s':>9} "
        f"{'lib/d2l':>8} {'lib/d2l torch':>14}"
    )
    for result in results:
        library, native = result["library"], result["native"]
        d2l = result["d2l_examples_per_sec"]
        print(
            f"{result['backend']:<11} {result['framework_version']:<12} "
            f"{library['device'] + '/' + native['device']:<16} "
            f"{str(library['threads']) + '/' + str(native['threads']):>7} "
            f"{library['examples_per_sec']:>12.1f} {native['examples_per_sec']:>11.1f} "
            f"{ratio_text(result['library_over_native']):>10} "
            f"{(f'{d2l:.1f}' if d2l else 'n/a'):>9} "
            f"{ratio_text(result['library_over_d2l']):>8} "
            f"{ratio_text(result['library_over_d2l_torch']):>14}"
        )
    for backend, error in failures.items():
        print(f"{backend:<11} FAILED: {error.splitlines()[-1] if error else ''}")
    if not results:
        return
    print(
        "\nKeras 3 on the same framework (keras: keras.io's step, the generator run twice; "
        "equal work: once, as the library)"
    )
    print(
        f"{'backend':<11} {'keras (backend)':<22} {'keras ex/s':>10} {'equal work ex/s':>15} "
        f"{'lib/keras':>9} {'lib/equal work':>14}"
    )
    for result in results:
        if "keras" not in result:
            print(f"{result['backend']:<11} n/a: {result.get('keras_missing', '')}")
            continue
        keras_name = f"{result['keras_version']} ({result['keras_backend']})"
        print(
            f"{result['backend']:<11} {keras_name:<22} "
            f"{result['keras']['examples_per_sec']:>10.1f} "
            f"{result['keras_equal_work']['examples_per_sec']:>15.1f} "
            f"{ratio_text(result['library_over_keras']):>9} "
            f"{ratio_text(result['library_over_keras_equal_work']):>14}"
        )
    if settings.model == "dcgan":
        titles = ", ".join(SIDE_TITLES[side] for side in SIDES)
        print(f"\nimage layout inside the step, {titles}")
        for result in results:
            layouts = ", ".join(result[side]["layout"] for side in timed_sides(result))
            print(f"{result['backend']:<11} {layouts}")
    print(
        f"\ncompute: {flops_per_step(settings) / 1e9:.4g} GFLOP (model FLOPs) per step; "
        "achieved TFLOP/s, " + " / ".join(SIDE_TITLES[side] for side in SIDES)
    )
    for result in results:
        sides = timed_sides(result)
        line = f"{result['backend']:<11} " + " / ".join(
            f"{result[side]['tflops']:.3g}" for side in sides
        )
        for name, peak in (peak_tflops or {}).items():
            line += f"   of {name} {peak:.3g}: " + " / ".join(
                f"{100 * result[side]['tflops'] / peak:.2f}%" for side in sides
            )
        print(line)
    torch = next((result for result in results if result["backend"] == "torch"), None)
    if torch is not None and len(results) > 1:
        print(
            "\nlibrary against PyTorch's library: "
            + ", ".join(
                f"{result['backend']} "
                + ratio_text(
                    result["library"]["examples_per_sec"] / torch["library"]["examples_per_sec"]
                )
                for result in results
                if result is not torch
            )
        )
    with_memory = [result for result in results if "memory" in result]
    if with_memory:
        print(
            "\npeak memory growth of one training epoch in a fresh process, MiB, "
            + " / ".join(SIDE_TITLES[side] for side in SIDES)
        )
        for result in with_memory:
            memory = result["memory"]
            line = f"{result['backend']:<11} RSS {memory_text(memory, 'rss_mib')}"
            if any(memory[side].get("cuda_mib") is not None for side in memory):
                line += f"   CUDA allocated {memory_text(memory, 'cuda_mib')}"
            print(line)


def memory_text(memory: dict[str, dict[str, Any]], key: str) -> str:
    values = []
    for side in memory:
        value = memory[side].get(key)
        values.append(f"{value:.1f}" if value is not None else memory[side].get("error", "n/a"))
    return " / ".join(values)


def print_summary(reports: dict[str, dict[str, Any]]) -> None:
    """Every ratio of both models, beside the performance targets."""
    targets = ", ".join(f"{SIDE_TITLES[side]} {target}x" for side, target in TARGETS.items())
    print(f"\nlibrary / peer on the same framework (targets: {targets})")
    titles = (f"{'lib/' + SIDE_TITLES[side]:>20}" for side in TARGETS)
    print(f"{'model':<6} {'backend':<11} " + " ".join(titles))
    for model, report in reports.items():
        for result in report["results"]:
            cells = []
            for side in TARGETS:
                ratio = result.get(f"library_over_{side}")
                below = ratio is not None and ratio < TARGETS[side]
                cells.append(f"{ratio_text(ratio) + (' (below)' if below else ''):>20}")
            print(f"{model:<6} {result['backend']:<11} " + " ".join(cells))


def print_loss_check(results: list[dict[str, Any]], failures: dict[str, str]) -> bool:
    """The first-step losses of the Keras variants against the library's; True if all agree."""
    tolerance = ", ".join(f"{name} {value:g}" for name, value in LOSS_TOLERANCE.items())
    print(
        "first step from the library's initial weights, batch and noise: |loss - library's| "
        f"(loss_D, loss_G); they agree within {tolerance}"
    )
    agree = not failures
    for result in results:
        library = np.array(result["library"])
        line = f"{result['backend']:<11} library {library[0]:.6f}, {library[1]:.6f}"
        if "keras" not in result:
            print(f"{line}   keras n/a: {result.get('keras_missing', '')}")
            continue
        for side in KERAS_SIDES:
            losses = np.array(result[side])
            close = np.isclose(losses, library, **LOSS_TOLERANCE).all()
            agree &= bool(close)
            difference = np.abs(losses - library)
            line += f"   {SIDE_TITLES[side]} {difference[0]:.1e}, {difference[1]:.1e}"
            line += "" if close else " (DISAGREE)"
        print(line)
    for backend, error in failures.items():
        print(f"{backend:<11} FAILED: {error.splitlines()[-1] if error else ''}")
    return agree


def print_library_alone(
    settings: Settings,
    results: list[dict[str, Any]],
    precisions: list[str],
    busy: list[int],
    peak_tflops: dict[str, float] | None,
) -> None:
    """The library alone per precision (quiet), and the fraction of it kept beside competitors."""
    flops = flops_per_step(settings)
    peaks = peak_tflops or {}
    first = precisions[0]

    def rate(result: dict[str, Any], precision: str) -> float | None:
        return result["quiet"][precision].get("examples_per_sec")

    torch = next((result for result in results if result["backend"] == "torch"), None)
    print(
        "\nlibrary alone, quiet, per precision: TFLOP/s, and as a share of "
        + (", ".join(peaks) or "no measured peak")
    )
    print(
        f"{'backend':<11} {'precision':<11} {'ex/s':>9} {'TFLOP/s':>8} "
        + "".join(f"{'of ' + name:>22}" for name in peaks)
        + f" {'vs ' + first:>10} {'vs torch':>9}"
    )
    for result in results:
        for precision in precisions:
            examples = rate(result, precision)
            if examples is None:
                error = result["quiet"][precision]["error"]
                print(f"{result['backend']:<11} {precision:<11} failed: {error}")
                continue
            tflops = flops * examples / settings.batch_size / 1e12
            baseline = rate(result, first)
            torch_rate = rate(torch, precision) if torch else None
            print(
                f"{result['backend']:<11} {precision:<11} {examples:>9.1f} {tflops:>8.3g} "
                + "".join(f"{f'{100 * tflops / peak:.3g}%':>22}" for peak in peaks.values())
                + f" {ratio_text(examples / baseline if baseline else None):>10}"
                + f" {ratio_text(examples / torch_rate if torch_rate else None):>9}"
            )
    if not busy:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max({result["quiet"][first].get("threads") or 1 for result in results})
    shares = ", ".join(
        f"beside {count} {min(1.0, cores / (threads + count)):.0%}" for count in busy
    )
    print(
        f"\nlibrary beside N competing CPU-bound processes, precision {first}: examples/sec and "
        f"the fraction of quiet kept (fair share, {threads} threads on {cores} cores: {shares})"
    )
    print(f"{'backend':<11} {'quiet':>8} " + "".join(f"{f'beside {count}':>20}" for count in busy))
    for result in results:
        quiet = rate(result, first)
        cells = []
        for count in busy:
            examples = result["busy"][count].get("examples_per_sec")
            if examples is None or quiet is None:
                cells.append(f"{'failed':>20}")
            else:
                cells.append(f"{f'{examples:.1f} ({examples / quiet:.0%})':>20}")
        print(
            f"{result['backend']:<11} {(f'{quiet:.1f}' if quiet else 'failed'):>8} "
            + "".join(cells)
        )
