"""Gymnasium's classic-control envs in TensorFlow: batched, in-graph, step for step alike.

Each env is pure functions over a float64 state of shape ``[N, state_size]``:

- ``reset(uniform, n)``: initial states, from ``uniform(shape, low, high)`` draws;
- ``dynamics(state, action) -> (next_state, reward, terminated)``;
- ``observe(state)``: float32 observations, as gymnasium returns them.

Given the same state and action, each step gives what gymnasium 1.x's own env gives (the
tests check states, rewards and terminations over whole episodes). The time limits are
gymnasium's registered ``max_episode_steps``. :class:`TFVectorEnv` runs N copies with
gymnasium's next-step autoreset, so a rollout of these envs is one TensorFlow
computation with no Python per step.

Differences kept on purpose: the random start states come from our own counter-based
generator (:func:`counter_uniform`), not NumPy's, so the same seed gives other episodes
than gymnasium's.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence

import tensorflow as tf

from agents.common import counter_uniform

F64 = tf.float64


def _column(state: tf.Tensor, i: int) -> tf.Tensor:
    return state[:, i]


# ---------------------------------------------------------------------------------------
# CartPole-v1
# ---------------------------------------------------------------------------------------

CARTPOLE = dict(
    gravity=9.8,
    masscart=1.0,
    masspole=0.1,
    length=0.5,
    force_mag=10.0,
    tau=0.02,
    theta_threshold=12 * 2 * math.pi / 360,
    x_threshold=2.4,
)


def cartpole_dynamics(state: tf.Tensor, action: tf.Tensor):
    """Euler step of the cart-pole (Barto, Sutton & Anderson 1983); reward 1 a step."""
    c = CARTPOLE
    total_mass = c["masspole"] + c["masscart"]
    polemass_length = c["masspole"] * c["length"]
    x, x_dot, theta, theta_dot = (_column(state, i) for i in range(4))
    force = tf.where(tf.cast(action, tf.int32) == 1, c["force_mag"], -c["force_mag"])
    force = tf.cast(force, F64)
    cos, sin = tf.cos(theta), tf.sin(theta)
    temp = (force + polemass_length * tf.square(theta_dot) * sin) / total_mass
    thetaacc = (c["gravity"] * sin - cos * temp) / (
        c["length"] * (4.0 / 3.0 - c["masspole"] * tf.square(cos) / total_mass)
    )
    xacc = temp - polemass_length * thetaacc * cos / total_mass
    x, x_dot = x + c["tau"] * x_dot, x_dot + c["tau"] * xacc
    theta, theta_dot = theta + c["tau"] * theta_dot, theta_dot + c["tau"] * thetaacc
    next_state = tf.stack([x, x_dot, theta, theta_dot], axis=1)
    terminated = (
        (x < -c["x_threshold"])
        | (x > c["x_threshold"])
        | (theta < -c["theta_threshold"])
        | (theta > c["theta_threshold"])
    )
    return next_state, tf.ones_like(x), terminated


def cartpole_reset(uniform: Callable, n: int) -> tf.Tensor:
    return uniform([n, 4], -0.05, 0.05)


# ---------------------------------------------------------------------------------------
# Acrobot-v1 (the "book" dynamics, RK4 over dt = 0.2, no torque noise)
# ---------------------------------------------------------------------------------------

ACROBOT = dict(
    dt=0.2,
    m1=1.0,
    m2=1.0,
    l1=1.0,
    lc1=0.5,
    lc2=0.5,
    moi=1.0,
    g=9.8,
    max_vel_1=4 * math.pi,
    max_vel_2=9 * math.pi,
)


def _acrobot_derivatives(s: tf.Tensor, torque: tf.Tensor) -> tf.Tensor:
    a = ACROBOT
    m1, m2, l1, lc1, lc2, i1, i2, g = (
        a["m1"],
        a["m2"],
        a["l1"],
        a["lc1"],
        a["lc2"],
        a["moi"],
        a["moi"],
        a["g"],
    )
    theta1, theta2, dtheta1, dtheta2 = (_column(s, i) for i in range(4))
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * tf.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * tf.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * tf.cos(theta1 + theta2 - math.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * tf.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * tf.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * tf.cos(theta1 - math.pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * tf.sin(theta2) - phi2) / (
        m2 * lc2**2 + i2 - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return tf.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], axis=1)


def _wrap(x: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """Into [low, high] by whole turns, as gymnasium's loop does (x stays if inside)."""
    width = high - low
    above = tf.math.ceil((x - high) / width)  # turns to take off when x > high
    below = tf.math.ceil((low - x) / width)  # turns to add when x < low
    return tf.where(x > high, x - above * width, tf.where(x < low, x + below * width, x))


def acrobot_dynamics(state: tf.Tensor, action: tf.Tensor):
    """One RK4 step of the two-link pendulum; reward -1, 0 once the tip is high enough."""
    a = ACROBOT
    torque = tf.cast(action, F64) - 1.0  # actions 0, 1, 2: torque -1, 0, +1
    dt = a["dt"]
    k1 = _acrobot_derivatives(state, torque)
    k2 = _acrobot_derivatives(state + dt / 2.0 * k1, torque)
    k3 = _acrobot_derivatives(state + dt / 2.0 * k2, torque)
    k4 = _acrobot_derivatives(state + dt * k3, torque)
    s = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    theta1 = _wrap(_column(s, 0), -math.pi, math.pi)
    theta2 = _wrap(_column(s, 1), -math.pi, math.pi)
    dtheta1 = tf.clip_by_value(_column(s, 2), -a["max_vel_1"], a["max_vel_1"])
    dtheta2 = tf.clip_by_value(_column(s, 3), -a["max_vel_2"], a["max_vel_2"])
    next_state = tf.stack([theta1, theta2, dtheta1, dtheta2], axis=1)
    terminated = -tf.cos(theta1) - tf.cos(theta2 + theta1) > 1.0
    return next_state, tf.cast(terminated, F64) - 1.0, terminated


def acrobot_observe(state: tf.Tensor) -> tf.Tensor:
    theta1, theta2 = _column(state, 0), _column(state, 1)
    obs = [
        tf.cos(theta1),
        tf.sin(theta1),
        tf.cos(theta2),
        tf.sin(theta2),
        _column(state, 2),
        _column(state, 3),
    ]
    return tf.cast(tf.stack(obs, axis=1), tf.float32)


def acrobot_reset(uniform: Callable, n: int) -> tf.Tensor:
    return uniform([n, 4], -0.1, 0.1)


# ---------------------------------------------------------------------------------------
# Pendulum-v1
# ---------------------------------------------------------------------------------------

PENDULUM = dict(max_speed=8.0, max_torque=2.0, dt=0.05, g=10.0, m=1.0, l=1.0)


def pendulum_dynamics(state: tf.Tensor, action: tf.Tensor):
    """Semi-implicit Euler step of the pendulum; the reward is minus the cost.

    The torque terms are float32 products, as NumPy computes them from the float32 action.
    """
    p = PENDULUM
    th, thdot = _column(state, 0), _column(state, 1)
    u = tf.clip_by_value(tf.cast(action[:, 0], tf.float32), -p["max_torque"], p["max_torque"])
    normalized = tf.math.floormod(th + math.pi, 2 * math.pi) - math.pi
    costs = normalized**2 + 0.1 * thdot**2 + tf.cast(0.001 * tf.square(u), F64)
    torque_term = tf.cast(3.0 / (p["m"] * p["l"] ** 2) * u, F64)
    newthdot = thdot + (3 * p["g"] / (2 * p["l"]) * tf.sin(th) + torque_term) * p["dt"]
    newthdot = tf.clip_by_value(newthdot, -p["max_speed"], p["max_speed"])
    newth = th + newthdot * p["dt"]
    next_state = tf.stack([newth, newthdot], axis=1)
    return next_state, -costs, tf.zeros_like(th, tf.bool)


def pendulum_observe(state: tf.Tensor) -> tf.Tensor:
    th, thdot = _column(state, 0), _column(state, 1)
    return tf.cast(tf.stack([tf.cos(th), tf.sin(th), thdot], axis=1), tf.float32)


def pendulum_reset(uniform: Callable, n: int) -> tf.Tensor:
    return tf.concat([uniform([n, 1], -math.pi, math.pi), uniform([n, 1], -1.0, 1.0)], axis=1)


# ---------------------------------------------------------------------------------------
# MountainCar-v0 and MountainCarContinuous-v0
# ---------------------------------------------------------------------------------------

MOUNTAIN = dict(min_position=-1.2, max_position=0.6, max_speed=0.07, gravity=0.0025)


def _mountain_move(position: tf.Tensor, velocity: tf.Tensor, push: tf.Tensor):
    m = MOUNTAIN
    velocity = velocity + push - m["gravity"] * tf.cos(3 * position)
    velocity = tf.clip_by_value(velocity, -m["max_speed"], m["max_speed"])
    position = tf.clip_by_value(position + velocity, m["min_position"], m["max_position"])
    stuck = (position == m["min_position"]) & (velocity < 0)
    velocity = tf.where(stuck, tf.zeros_like(velocity), velocity)
    return position, velocity


def mountain_car_dynamics(state: tf.Tensor, action: tf.Tensor):
    """Discrete pushes left, none, right (force 0.001); reward -1 until the flag at 0.5."""
    push = (tf.cast(action, F64) - 1.0) * 0.001
    position, velocity = _mountain_move(_column(state, 0), _column(state, 1), push)
    terminated = (position >= 0.5) & (velocity >= 0.0)
    return tf.stack([position, velocity], axis=1), -tf.ones_like(position), terminated


def mountain_car_continuous_dynamics(state: tf.Tensor, action: tf.Tensor):
    """A force in [-1, 1] (power 0.0015); +100 at the flag (0.45), minus 0.1 force**2.

    Gymnasium keeps this env's state in float32 and NumPy then computes in float32 (the
    cosine in float64): so do we.
    """
    m, f32 = MOUNTAIN, tf.float32
    raw = tf.cast(action[:, 0], f32)
    position, velocity = tf.cast(_column(state, 0), f32), tf.cast(_column(state, 1), f32)
    force = tf.clip_by_value(raw, -1.0, 1.0)
    slope = tf.cast(m["gravity"] * tf.cos(tf.cast(3.0 * position, F64)), f32)
    velocity = velocity + (force * 0.0015 - slope)
    velocity = tf.clip_by_value(velocity, -m["max_speed"], m["max_speed"])
    position = tf.clip_by_value(position + velocity, m["min_position"], m["max_position"])
    stuck = (position == m["min_position"]) & (velocity < 0)
    velocity = tf.where(stuck, tf.zeros_like(velocity), velocity)
    terminated = (position >= 0.45) & (velocity >= 0.0)
    reward = 100.0 * tf.cast(terminated, F64) - tf.square(tf.cast(raw, F64)) * 0.1
    return tf.cast(tf.stack([position, velocity], axis=1), F64), reward, terminated


def mountain_car_reset(uniform: Callable, n: int) -> tf.Tensor:
    return tf.concat([uniform([n, 1], -0.6, -0.4), tf.zeros([n, 1], F64)], axis=1)


def _identity_observe(state: tf.Tensor) -> tf.Tensor:
    return tf.cast(state, tf.float32)


# ---------------------------------------------------------------------------------------
# The registry and the vector env
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TFEnvSpec:
    """One env: its functions and time limit (gymnasium's registration). Its spaces are
    gymnasium's: the agents read them from gymnasium's env."""

    env_id: str
    dynamics: Callable
    reset: Callable
    observe: Callable
    max_episode_steps: int


SPECS = {
    spec.env_id: spec
    for spec in (
        TFEnvSpec("CartPole-v1", cartpole_dynamics, cartpole_reset, _identity_observe, 500),
        TFEnvSpec("Acrobot-v1", acrobot_dynamics, acrobot_reset, acrobot_observe, 500),
        TFEnvSpec("Pendulum-v1", pendulum_dynamics, pendulum_reset, pendulum_observe, 200),
        TFEnvSpec(
            "MountainCar-v0", mountain_car_dynamics, mountain_car_reset, _identity_observe, 200
        ),
        TFEnvSpec(
            "MountainCarContinuous-v0",
            mountain_car_continuous_dynamics,
            mountain_car_reset,
            _identity_observe,
            999,
        ),
    )
}


class TFVectorEnv(tf.Module):
    """P members x N copies of a TensorFlow env with gymnasium 1.x's next-step autoreset.

    The step after an episode ends (terminated or truncated at the time limit) ignores its
    action, resets that copy and pays 0, like gymnasium's vector envs. Member m draws its
    copies' start states from its own stream (:func:`common.counter_uniform`: its seed
    and its count of draws), on the steps where one of its copies resets: exactly what an
    env of its seed alone would draw. The state, step counters, seeds and draw counts are
    variables with a leading member axis, so a member's checkpoint is a slice of them.

    Args:
        env_id: one of :data:`SPECS`.
        num_envs: copies a member.
        seeds: one seed a member (an int: one member).
    """

    def __init__(
        self, env_id: str, num_envs: int, seeds: int | Sequence[int], name: str = "tf_vector_env"
    ):
        super().__init__(name=name)
        self.spec = SPECS[env_id]
        seeds = [int(s) for s in seeds] if hasattr(seeds, "__iter__") else [int(seeds)]
        self.members, self.copies = len(seeds), int(num_envs)
        self.keys = tf.Variable(seeds, dtype=tf.int64, trainable=False, name="env/keys")
        self.draws = tf.Variable(
            tf.zeros([self.members], tf.int64), trainable=False, name="env/draws"
        )
        self.state = tf.Variable(self._reset(), trainable=False, name="env/state")
        shape = [self.members, self.copies]
        self.elapsed = tf.Variable(tf.zeros(shape, tf.int32), trainable=False, name="env/elapsed")
        self.needs_reset = tf.Variable(
            tf.zeros(shape, tf.bool), trainable=False, name="env/needs_reset"
        )
        self.draws.assign_add(tf.ones_like(self.draws))

    def reseed(self, seeds: Sequence[int]) -> None:
        """Starts every copy afresh from ``seeds`` (one a member), as a new env would."""
        self.keys.assign(tf.constant([int(s) for s in seeds], tf.int64))
        self.draws.assign(tf.zeros_like(self.draws))
        self.state.assign(self._reset())
        self.draws.assign_add(tf.ones_like(self.draws))
        self.elapsed.assign(tf.zeros_like(self.elapsed))
        self.needs_reset.assign(tf.zeros_like(self.needs_reset))

    def _reset(self) -> tf.Tensor:
        """``[P, N, S]`` start states, each member's from its next draw."""
        streams = itertools.count()  # a spec may draw several times: one stream each

        def uniform(shape, low, high):
            return tf.reshape(
                counter_uniform(
                    self.keys, self.draws, next(streams), [self.copies, *shape[1:]], low, high
                ),
                [self.members * self.copies, *shape[1:]],
            )

        flat = self.spec.reset(uniform, self.members * self.copies)
        return tf.reshape(flat, [self.members, self.copies, -1])

    def _flat(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [self.members * self.copies, *x.shape[2:]])

    def _members(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reshape(x, [self.members, self.copies, *x.shape[1:]])

    def observe(self) -> tf.Tensor:
        """``[P, N, D]`` float32 observations."""
        return self._members(self.spec.observe(self._flat(self.state)))

    def step(self, action: tf.Tensor):
        """Steps every copy (``action`` ``[P, N, ...]``); returns ``(obs, reward,
        terminated, truncated, valid)``, each ``[P, N, ...]``.

        ``valid`` is False on the autoreset step that follows an episode's end.
        """
        stepped, reward, terminated = self.spec.dynamics(self._flat(self.state), self._flat(action))
        stepped, reward, terminated = (self._members(x) for x in (stepped, reward, terminated))
        resetting = self.needs_reset.read_value()

        def redraw() -> tf.Tensor:  # a member's count advances when one of its copies resets
            fresh = self._reset()
            self.draws.assign_add(tf.cast(tf.reduce_any(resetting, 1), tf.int64))
            return fresh

        # start states are drawn only on steps where some copy resets
        fresh = tf.cond(tf.reduce_any(resetting), redraw, lambda: stepped)
        elapsed = tf.where(resetting, 0, self.elapsed + 1)
        truncated = (elapsed >= self.spec.max_episode_steps) & ~resetting  # as TimeLimit
        terminated = terminated & ~resetting
        self.state.assign(tf.where(resetting[..., None], fresh, stepped))
        self.elapsed.assign(elapsed)
        self.needs_reset.assign(terminated | truncated)
        reward = tf.where(resetting, tf.zeros_like(reward), reward)
        return self.observe(), tf.cast(reward, tf.float32), terminated, truncated, ~resetting
