"""The learning loop (DESIGN.md §8): data, rewards, GRPO/SFT/KTO, the registry, the Evolver, the weekly job.

Modules, by job: ``datasets``/``expert``/``production``/``purify`` (training rows, content-hashed),
``rewards``/``rewards_verified``/``similarity`` (trl reward functions), ``config``/``trainers``/``runs``/
``base_models``/``tiny`` (LoRA training with trl), ``pipeline`` (recipes and held-out evaluation),
``registry`` (adapters + store rows), ``rollout`` (graded simulator episodes with trajectories),
``evolver``/``guidance``/``embeddings``/``evolve_job`` (failures → guidance), ``weekly``/``vllm_client``/
``charts`` (the gated weekly retrain). Importing this package imports no ML library; torch, trl and
peft are imported inside the functions that train.
"""
