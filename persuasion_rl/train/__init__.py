"""`persuasion-rl train` and `persuasion-rl export`: compose a recipe's Hydra config,
check it, run verl's trainer; export a checkpoint as a Hugging Face model."""
