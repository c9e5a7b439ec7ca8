"""The fastest a GAN step can run on MXNet 1.9 with MXNet's autograd: its fewest calls, timed bare.

    python benchmarks/mxnet_call_floor.py                  # OMP_NUM_THREADS = every core
    python benchmarks/mxnet_call_floor.py --threads 1

A d2l 20.1 step updates the discriminator, then the generator through the updated
discriminator, so each network needs at least three calls into MXNet, one after the other: a
recorded forward of its loss, a backward, an optimizer update. This script makes exactly those
six calls per step on the library's own hybridized loss blocks and Adam updates
(``gan_backends.backends.mxnet.trainer``), through their ``CachedOp`` handles, with no Gluon
Python in between. It even leaves out the generator's forward pass, so what it prints is a lower
bound on the step time: the time per call, and the examples/sec ceiling it implies beside the
GAN performance target (twice d2l's PyTorch code). ``Block._cached_op`` is
private Gluon API, read here only to time the bare calls.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from peers import HYPERPARAMETERS
from report import D2L_EXAMPLES_PER_SEC

PHASES = ("recorded forward", "backward", "Adam update")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS (default: every core)")
    parser.add_argument("--batch-size", type=int, default=8, help="default 8")
    parser.add_argument("--steps", type=int, default=2000, help="timed steps (default 2000)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    from mxnet import autograd, nd
    from mxnet import np as mnp

    from gan_backends import models, selection
    from gan_backends.backends.mxnet.trainer import TrainStep
    from gan_backends.step import StepSettings

    selection.set_backend("mxnet")
    hyper = HYPERPARAMETERS["gan"]
    settings = StepSettings(hyper.lr_D, hyper.lr_G, hyper.beta1, 0.999, 1e-8, compiled=True)
    step = TrainStep(models.gan_generator(seed=0), models.gan_discriminator(seed=0), settings)
    rng = np.random.default_rng(0)
    step.load_data(rng.normal(size=(1000, 2)).astype(np.float32))
    batches = rng.permutation(1000)[: 100 * args.batch_size].reshape(100, args.batch_size)
    step.run(batches, rng.normal(size=(100, args.batch_size, 2)).astype(np.float32))

    x = mnp.array(rng.normal(size=(args.batch_size, 2)), dtype="float32")
    fake = step.models["G"](mnp.array(rng.normal(size=(args.batch_size, 2)), dtype="float32"))
    fake.attach_grad()  # the generator's loss differentiates to the generator's output
    calls = []
    for loss, inputs, role in ((step.loss_D, (x, fake), "D"), (step.loss_G, (fake,), "G")):
        arguments = [inputs[p] if is_input else p.data() for is_input, p in loss._cached_op_args]
        calls.append((loss._cached_op, arguments, step.optimizers[role]))

    seconds = dict.fromkeys(PHASES, 0.0)
    nd.waitall()
    start = time.perf_counter()
    for _ in range(args.steps):
        for cached_op, arguments, adam in calls:
            t0 = time.perf_counter()
            with autograd.record():
                value = cached_op(*arguments)
            t1 = time.perf_counter()
            value.backward()
            t2 = time.perf_counter()
            adam.step()
            t3 = time.perf_counter()
            for phase, elapsed in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                seconds[phase] += elapsed
    nd.waitall()
    step_us = (time.perf_counter() - start) / args.steps * 1e6

    threads = os.environ.get("OMP_NUM_THREADS")
    print(f"MXNet GAN step floor, batch {args.batch_size}, {args.steps} steps, {threads} threads")
    for phase in PHASES:
        print(f"  {phase:17s} {seconds[phase] / args.steps / 2 * 1e6:7.1f} us a call, 2 a step")
    ceiling = args.batch_size / step_us * 1e6
    target = 2 * D2L_EXAMPLES_PER_SEC["gan"]["torch"]
    target_us = args.batch_size / target * 1e6
    print(f"  step              {step_us:7.1f} us -> at most {ceiling:,.0f} examples/sec")
    print(f"  target            {target_us:7.1f} us -> {target:,.0f} examples/sec (2x d2l's")
    print(f"                    PyTorch); ceiling / target = {ceiling / target:.2f}x")


if __name__ == "__main__":
    main()
