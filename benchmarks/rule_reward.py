"""A rule-based reward for the benchmark's baseline ("plain verl GRPO"): no Receiver.

Rewards replies that close an <argument> tag and penalises length, so that GRPO groups
see different rewards, as with a real reward. Called by verl's reward loop exactly as
the project's reward function is (an async function, same arguments)."""


async def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    closed = "<argument>" in solution_str and "</argument>" in solution_str
    score = float(closed) - 0.01 * len(solution_str.split())
    return {"score": score}
