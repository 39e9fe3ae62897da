"""verl extensions: the reward function (``reward``), per-step persuasion metrics, the
project's TaskRunner and trainer, and the CPU support that runs verl's real trainer on a
machine without an accelerator (``bootstrap``, ``cpu_platform``, ``hf_rollout``,
``patches``). Importing this package imports nothing from verl."""
