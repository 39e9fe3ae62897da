"""An annotator's path through the study: which step comes next, which steps may be opened.

The steps are, for each assigned transcript in order, one per Receiver update (round
1..R) and then the transcript's rating. An annotator may revisit any step already reached
(to change an answer) but not skip ahead: judging round 2 before round 1 would mean
judging an update without having read what led to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..game.record import GameRecord


@dataclass(frozen=True)
class Step:
    """A page of the study: ``round`` is a Receiver update, or None for the rating."""

    position: int  # 1-based index of the transcript among the annotator's assignments
    round: int | None

    def order(self, n_rounds: int) -> tuple[int, int]:
        return (self.position, self.round if self.round is not None else n_rounds + 1)


@dataclass(frozen=True)
class TranscriptState:
    position: int
    game: GameRecord
    answered: frozenset[int]
    rated: bool

    @property
    def complete(self) -> bool:
        return self.rated and len(self.answered) >= self.game.n_rounds

    def first_open_step(self) -> Step | None:
        for number in range(1, self.game.n_rounds + 1):
            if number not in self.answered:
                return Step(self.position, number)
        return None if self.rated else Step(self.position, None)

    @property
    def status(self) -> str:
        if self.complete:
            return "done"
        return "started" if self.answered else "to do"


def next_step(states: list[TranscriptState]) -> Step | None:
    """Where the annotator resumes: the first unanswered step, or None when all is done."""
    for state in states:
        step = state.first_open_step()
        if step is not None:
            return step
    return None


def may_open(states: list[TranscriptState], step: Step) -> bool:
    """Whether every step before ``step`` is answered (it is reached), so it can be shown
    or answered."""
    if not 1 <= step.position <= len(states):
        return False
    game = states[step.position - 1].game
    if step.round is not None and not 1 <= step.round <= game.n_rounds:
        return False
    resume = next_step(states)
    if resume is None:
        return True
    resume_rounds = states[resume.position - 1].game.n_rounds
    return step.order(game.n_rounds) <= resume.order(resume_rounds)


def step_after(states: list[TranscriptState], step: Step) -> Step | None:
    """The step that follows ``step`` in reading order (None after the last rating)."""
    game = states[step.position - 1].game
    if step.round is not None and step.round < game.n_rounds:
        return Step(step.position, step.round + 1)
    if step.round is not None:
        return Step(step.position, None)
    if step.position < len(states):
        return Step(step.position + 1, 1)
    return None


def step_counts(states: list[TranscriptState]) -> tuple[int, int]:
    """(steps answered, steps in all): drives the progress bar."""
    total = sum(s.game.n_rounds + 1 for s in states)
    done = sum(len(s.answered) + int(s.rated) for s in states)
    return done, total
