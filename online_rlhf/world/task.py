"""The embedded made-up world: a string-reversal task with a programmatic oracle reward.

The real recipe reads Hub datasets and judges with GPT-4 or a reward model; here every input is synthesised from
one seeded generator so the same adapters, trainers and rules run offline, and so that learning is *measurable*:
the oracle says exactly how good a response is, which lets the report check the paper's ordering
(SFT < offline DPO < iterative DPO) instead of trusting a learned judge.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

# The behaviour policy's mistakes. Each is a plausible failure of a reversal model and lowers the oracle reward by a
# different amount, so preference pairs carry graded signal (not just right/wrong).
ERROR_KINDS = ("copy", "substitute", "swap", "truncate", "extend", "rotate")


@dataclass(frozen=True)
class WorldSpec:
    """The task's size and its writers' skill. The defaults are the original, flat world (every query equally hard, the
    demonstrator's mistakes uniform over ERROR_KINDS); config/config.yaml sets the harder default world of docs/world.md.

    hard_len / hard_factor: queries of at least hard_len characters are hard for *every* writer (demonstrator and the
    other made-up models alike): their accuracy is multiplied by hard_factor there. habit / habit_rate: the share of
    the demonstrator's mistakes that are one habitual kind (the rest stay uniform). Together they give SFT a systematic
    blind spot (on hard queries the habit is likelier than the right answer, so greedy SFT repeats it) that the policy's
    own samples expose and that off-policy data, written by models with other habits, rarely shows.
    judge_noise: standard deviation of the noise the strong judge (GPT-4's stand-in, ranking Nectar) adds to the oracle.
    """

    alphabet: str = "abcdefgh"
    min_len: int = 4
    max_len: int = 6
    demo_accuracy: float = 0.6
    hard_len: int | None = None
    hard_factor: float = 1.0
    habit: str | None = None
    habit_rate: float = 0.0
    judge_noise: float = 0.0

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 2:
            raise ValueError(f"world.alphabet must hold at least 2 distinct characters, got {self.alphabet!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"world.min_len/max_len must satisfy 1 <= min_len <= max_len, got {self.min_len}/{self.max_len}")
        if not 0.0 <= self.demo_accuracy <= 1.0:
            raise ValueError(f"world.demo_accuracy must lie in [0, 1], got {self.demo_accuracy}")
        if self.hard_len is not None and self.hard_len < 1:
            raise ValueError(f"world.hard_len must be a positive length or null, got {self.hard_len}")
        if not 0.0 <= self.hard_factor <= 1.0:
            raise ValueError(f"world.hard_factor must lie in [0, 1], got {self.hard_factor}")
        if self.habit is not None and self.habit not in ERROR_KINDS:
            raise ValueError(f"world.habit must be one of {ERROR_KINDS} or null, got {self.habit!r}")
        if not 0.0 <= self.habit_rate <= 1.0:
            raise ValueError(f"world.habit_rate must lie in [0, 1], got {self.habit_rate}")
        if self.habit_rate > 0 and self.habit is None:
            raise ValueError(f"world.habit_rate is {self.habit_rate} but world.habit is null: name the habitual mistake")
        if self.judge_noise < 0:
            raise ValueError(f"world.judge_noise must be >= 0, got {self.judge_noise}")

    def is_hard(self, query: str) -> bool:
        return self.hard_len is not None and len(query) >= self.hard_len

    def skill(self, query: str, accuracy: float) -> float:
        """A writer's chance of the right answer on this query: its accuracy, times hard_factor on hard queries."""
        return accuracy * (self.hard_factor if self.is_hard(query) else 1.0)


def target_response(query: str) -> str:
    """The one fully correct answer: the query reversed."""
    return query[::-1]


def oracle_reward(query: str, response: str) -> float:
    """Ground-truth reward in [0, 1]: characters in the right place over the longer of response and target.

    1.0 only for the exact reversal; extra or missing characters cost as much as wrong ones, so padding an answer
    never pays (the made-up analogue of verbosity that a reward model may still learn to like).
    """
    target = target_response(query)
    longest = max(len(target), len(response))
    if longest == 0:
        return 1.0
    hits = sum(a == b for a, b in zip(response, target))
    return hits / longest


def sample_query(rng: random.Random, spec: WorldSpec) -> str:
    length = rng.randint(spec.min_len, spec.max_len)
    return "".join(rng.choice(spec.alphabet) for _ in range(length))


def corrupt(query: str, kind: str, rng: random.Random, spec: WorldSpec) -> str:
    """A wrong answer of the given kind (may coincide with the right one for degenerate queries, e.g. 'aaa')."""
    right = target_response(query)
    if kind == "copy":
        return query
    if kind == "substitute":
        i = rng.randrange(len(right))
        others = [c for c in spec.alphabet if c != right[i]]
        return right[:i] + rng.choice(others) + right[i + 1 :]
    if kind == "swap":
        if len(right) < 2:
            return right
        i = rng.randrange(len(right) - 1)
        return right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    if kind == "truncate":
        return right[: max(1, len(right) - rng.randint(1, 2))]
    if kind == "extend":
        return right + "".join(rng.choice(spec.alphabet) for _ in range(rng.randint(1, 3)))
    if kind == "rotate":
        k = rng.randrange(1, len(right)) if len(right) > 1 else 0
        return right[k:] + right[:k]
    raise ValueError(f"unknown error kind {kind!r}; expected one of {ERROR_KINDS}")


def behaviour_response(query: str, rng: random.Random, spec: WorldSpec, accuracy: float | None = None) -> str:
    """One response of the noisy demonstrator (the SFT data's writer): right with probability `accuracy` (times
    hard_factor on hard queries), else its habit with probability habit_rate, else a uniformly random kind of mistake."""
    p = spec.skill(query, spec.demo_accuracy if accuracy is None else accuracy)
    if rng.random() < p:
        return target_response(query)
    if spec.habit is not None and rng.random() < spec.habit_rate:
        return corrupt(query, spec.habit, rng, spec)
    return corrupt(query, rng.choice(ERROR_KINDS), rng, spec)


@dataclass(frozen=True)
class Writer:
    """A made-up model other than the demonstrator: its accuracy and the kinds of mistake it makes (uniformly)."""

    name: str
    accuracy: float
    mistakes: tuple[str, ...]


# The other "models" whose answers fill the offline (Nectar-like) and the multi-model preference sets, as Nectar's 39
# and UltraFeedback's 17 models do. Each has its own error profile, none the demonstrator's habit as its main mistake:
# the off-policy data shows the policy's own failure mode only as often as these writers happen to make it.
WRITERS = (
    Writer("tiny-large", 0.8, ("substitute", "swap")),
    Writer("tiny-medium", 0.65, ("truncate", "substitute")),
    Writer("tiny-verbose", 0.55, ("extend",)),
    Writer("tiny-rotator", 0.5, ("rotate", "swap")),
    Writer("tiny-terse", 0.45, ("truncate",)),
    Writer("tiny-noisy", 0.4, ("substitute", "extend", "rotate")),
    Writer("tiny-small", 0.25, ERROR_KINDS),
)


def writer_response(query: str, writer: Writer, rng: random.Random, spec: WorldSpec) -> str:
    """One answer of another made-up model: right with its accuracy (times hard_factor on hard queries), else one of
    its own kinds of mistake."""
    if rng.random() < spec.skill(query, writer.accuracy):
        return target_response(query)
    return corrupt(query, rng.choice(writer.mistakes), rng, spec)


def judged_reward(query: str, response: str, rng: random.Random, spec: WorldSpec) -> float:
    """The strong judge's view (GPT-4 ranking Nectar): the oracle reward plus Gaussian noise of sd judge_noise."""
    return oracle_reward(query, response) + (rng.gauss(0.0, spec.judge_noise) if spec.judge_noise else 0.0)


# Every synthetic dataset draws its queries from its own slice of query space, decided by a stable hash of the query,
# so datasets synthesised by independent jobs never share a prompt: SFT demonstrations, preference data, the offline
# DPO set, the iteration prompt pool and held-out evaluation stay disjoint without any job seeing another's output.
ROLE_SLICES = {
    "sft": (0, 30),
    "preference": (30, 50),
    "offline": (50, 60),
    "prompts": (60, 85),
    "heldout": (85, 100),
}


def query_slice(query: str) -> int:
    """Stable bucket in [0, 100) for a query (crc32: the same on every machine and Python run, unlike hash())."""
    return zlib.crc32(query.encode("utf-8")) % 100


def query_role(query: str) -> str:
    bucket = query_slice(query)
    for role, (lo, hi) in ROLE_SLICES.items():
        if lo <= bucket < hi:
            return role
    raise AssertionError(bucket)  # ROLE_SLICES covers [0, 100)


def draw_queries(rng: random.Random, spec: WorldSpec, role: str, n: int, unique: bool) -> list[str]:
    """n queries from the role's slice; `unique` for prompt sets (each prompt once), not for demonstrations."""
    if role not in ROLE_SLICES:
        raise ValueError(f"unknown synthetic role {role!r}; expected one of {sorted(ROLE_SLICES)}")
    out: list[str] = []
    seen: set[str] = set()
    attempts, limit = 0, 1000 * max(n, 1)
    while len(out) < n:
        attempts += 1
        if attempts > limit:
            raise ValueError(
                f"could only draw {len(out)} of {n} {'distinct ' if unique else ''}queries for role {role!r}: "
                "the world is too small; enlarge world.alphabet or world.max_len, or ask for fewer rows"
            )
        q = sample_query(rng, spec)
        if query_role(q) != role or (unique and q in seen):
            continue
        seen.add(q)
        out.append(q)
    return out
