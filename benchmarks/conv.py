"""Convolutions over a member axis: one conv2d a member, one grouped conv2d, or im2col and a
batched matmul; each under XLA and as a plain TensorFlow graph (oneDNN).

Times a forward and backward pass of one 3x3 convolution (MinAtar's: 10x10x4 frames, 16
channels) and a dense layer, for P members of B frames each, and checks each way's
filter gradient of member p against a lone ``conv2d`` of member p alone (what a lone run
computes): ``exact`` is whether every member's gradient is bit for bit the lone one.

    python benchmarks/conv.py --members 1 8 --batch 512

Prints one JSON line a (members, way, XLA) with the median milliseconds of a pass.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np

import agents

agents.configure_threads(*agents.thread_counts(True, False, os.cpu_count() or 1, True))
import tensorflow as tf  # noqa: E402

SIDE, CHANNELS_IN, CHANNELS_OUT, KERNEL, UNITS = 10, 4, 16, 3, 128


def per_member(x, w):
    return tf.stack([tf.nn.conv2d(x[p], w[p], 1, "VALID") for p in range(w.shape[0])])


def grouped(x, w):
    members, batch = w.shape[0], x.shape[1]
    frames = tf.reshape(tf.transpose(x, [1, 2, 3, 0, 4]), [batch, SIDE, SIDE, -1])
    filters = tf.reshape(tf.transpose(w, [1, 2, 3, 0, 4]), [KERNEL, KERNEL, CHANNELS_IN, -1])
    y = tf.nn.conv2d(frames, filters, 1, "VALID")  # groups = members
    out = SIDE - KERNEL + 1
    return tf.transpose(tf.reshape(y, [batch, out, out, members, CHANNELS_OUT]), [3, 0, 1, 2, 4])


def im2col(x, w):
    members, batch = w.shape[0], x.shape[1]
    out = SIDE - KERNEL + 1
    patches = tf.image.extract_patches(
        tf.reshape(x, [members * batch, SIDE, SIDE, CHANNELS_IN]),
        [1, KERNEL, KERNEL, 1],
        [1, 1, 1, 1],
        [1, 1, 1, 1],
        "VALID",
    )
    patches = tf.reshape(patches, [members, batch * out * out, -1])
    y = tf.matmul(patches, tf.reshape(w, [members, -1, CHANNELS_OUT]))
    return tf.reshape(y, [members, batch, out, out, CHANNELS_OUT])


WAYS = {"per_member": per_member, "grouped": grouped, "im2col": im2col}


def pass_of(conv, dense, jit: bool):
    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch(w)
            y = tf.nn.relu(conv(x, w))
            z = tf.matmul(tf.reshape(y, [w.shape[0], x.shape[1], -1]), dense)
            loss = tf.reduce_sum(tf.square(z))
        return tape.gradient(loss, w)

    return tf.function(step, jit_compile=jit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for members in args.members:
        shape = [members, args.batch, SIDE, SIDE, CHANNELS_IN]
        x = tf.constant((rng.random(shape) > 0.8).astype(np.float32))
        w = tf.constant(rng.standard_normal([members, KERNEL, KERNEL, CHANNELS_IN, CHANNELS_OUT]))
        w = tf.cast(w * 0.1, tf.float32)
        out = SIDE - KERNEL + 1
        dense = tf.constant(rng.standard_normal([members, out * out * CHANNELS_OUT, UNITS]) * 0.01)
        dense = tf.cast(dense, tf.float32)
        for jit in (False, True):
            lone = [
                pass_of(per_member, dense[p : p + 1], jit)(x[p : p + 1], w[p : p + 1]).numpy()[0]
                for p in range(members)
            ]
            for name, conv in WAYS.items():
                step = pass_of(conv, dense, jit)
                grads = step(x, w).numpy()
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    step(x, w).numpy()
                    times.append(time.perf_counter() - start)
                exact = all(np.array_equal(grads[p], lone[p]) for p in range(members))
                record = {
                    "members": members,
                    "way": name,
                    "xla": jit,
                    "ms": round(1e3 * statistics.median(times), 2),
                    "exact": exact,
                    "max_gradient_difference": float(
                        max(np.abs(grads[p] - lone[p]).max() for p in range(members))
                    ),
                }
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
