"""The voice: the base model, the style adapter (tuning, generation) and the style measures. Above the platforms
(it reads files through them) and the core; below the jobs."""
